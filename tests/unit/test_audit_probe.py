"""What counts as a refused media socket: HTTP 4xx on the upgrade, or 1008 before audio."""

from __future__ import annotations

import json

import pytest

from simulator.audit.probe import ProbeResult, refusal, start_frame


@pytest.mark.parametrize(
    ("probe", "refused", "how"),
    [
        (ProbeResult("ws://x", "http-refused", http_status=403), True, "uvicorn's form"),
        (ProbeResult("ws://x", "http-refused", http_status=404), True, "HTTP 404"),
        (ProbeResult("ws://x", "closed", close_code=1008), True, "closed with 1008 before"),
        (ProbeResult("ws://x", "closed", close_code=1008, play_audio=3), False, "after sending 3"),
        (ProbeResult("ws://x", "closed", close_code=1000), False, "closed with code 1000"),
        (ProbeResult("ws://x", "open", play_audio=12), False, "accepted and kept open"),
        (ProbeResult("ws://x", "connection-error", error="reset"), False, "failed: reset"),
    ],
    ids=["403", "404", "1008", "1008-after-audio", "1000", "open", "connection-error"],
)
def test_refusal_accepts_both_forms_and_says_which(
    probe: ProbeResult, refused: bool, how: str
) -> None:
    """Through uvicorn a close before accept is HTTP 403; after accept it must be 1008."""
    verdict, phrase = refusal(probe)
    assert verdict is refused
    assert how in phrase


def test_the_start_frame_has_bandwidths_shape() -> None:
    """The probe's start carries the metadata keys Bandwidth sends, tracks as objects."""
    frame = json.loads(start_frame(account_id="1", call_id="c-1", stream_id="s-1"))
    assert frame["eventType"] == "start"
    meta = frame["metadata"]
    assert set(meta) == {"accountId", "callId", "streamId", "streamName", "tracks"}
    assert meta["tracks"][0]["mediaFormat"] == {"encoding": "PCMU", "sampleRate": 8000}
