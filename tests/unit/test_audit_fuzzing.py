"""The fuzzer's strategies make frames a socket can carry, aimed at the live victims."""

from __future__ import annotations

import json

from hypothesis import given

from simulator.audit.fuzzing import (
    OWN_CALL,
    Frame,
    Targets,
    encode,
    frame_sequences,
    pinned_examples,
)

TARGETS = Targets(
    own_call=OWN_CALL,
    own_account="9900000",
    victim_call="c-victim",
    victim_account="9900000",
    other_call="c-other",
    other_account="8800000",
)


@given(frame_sequences(TARGETS))
def test_every_generated_frame_can_be_sent(frames: list[Frame]) -> None:
    """Text frames are valid UTF-8 (no lone surrogates) and dict frames are JSON objects."""
    assert frames
    for frame in frames:
        wire = encode(frame)
        if isinstance(wire, str):
            wire.encode("utf-8")
        if isinstance(frame, dict):
            assert isinstance(json.loads(encode(frame)), dict)


def test_the_pinned_examples_cover_duplicate_start_and_media_first() -> None:
    """Every fuzz run sends a second start naming the victim, and media before a forged start."""
    (duplicate, _), (media_first, _), (metachar, ending) = pinned_examples(TARGETS)
    starts = [f for f in duplicate if isinstance(f, dict) and f["eventType"] == "start"]
    assert [s["metadata"]["callId"] for s in starts] == [OWN_CALL, "c-victim"]
    assert isinstance(media_first[0], dict) and media_first[0]["eventType"] == "media"
    assert isinstance(media_first[1], dict) and media_first[1]["metadata"]["callId"] == "c-victim"
    assert isinstance(metachar[0], dict) and "?" in metachar[0]["metadata"]["callId"]
    assert ending == "drop"
