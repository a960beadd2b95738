"""Fuzz: the bot's frames into the simulator (``playAudio``/``clear`` and everything else).

Every frame the bot sends goes through :meth:`simulator.protocol.media.MediaStream.receive`
(the Sans-I/O classifier the stream driver calls) and, when it is audio or a clear, into
the :class:`~simulator.protocol.media.Playout` queue. Whatever the frame (valid, not JSON,
wrong types, huge, bad base64, odd PCM lengths, binary), the answer is an event or a
:class:`FrameViolation` naming its rule, never an exception, and the stream goes on: a
valid ``playAudio`` after any of them is still played.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator.protocol.media import (
    Clear,
    FrameViolation,
    MediaStream,
    PlayAudio,
    Playout,
    StreamConfig,
)

# A hang guard, not a speed bound: the fuzz profile runs 10,000 examples per test.
# Not marked `fuzz`: these run at the default count in every test run, and at 10,000
# examples in `nox -s fuzz`, which names these files.
pytestmark = [pytest.mark.timeout(120 + 0.2 * settings().max_examples)]

RULES = {
    "binary-frame", "bad-json", "missing-event-type", "unknown-event",
    "play-audio-unidirectional", "bad-play-audio", "bad-content-type", "bad-base64",
    "odd-pcm-length",
}  # fmt: skip
PCM16 = "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed"
CONTENT_TYPES = [
    "audio/pcmu",
    PCM16,
    PCM16.replace("16000", "8000"),
    PCM16.replace("16000", "24000"),
]
_TEXT = st.characters(exclude_categories=["Cs"])


def _scalars() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | st.integers() | st.floats() | st.text(_TEXT, max_size=10)


def _payloads() -> st.SearchStrategy[Any]:
    """Base64 of any length (odd PCM lengths included), huge ones, bad base64, wrong types."""
    good = st.binary(max_size=640).map(lambda b: base64.b64encode(b).decode())
    huge = st.builds(
        lambda unit, n: base64.b64encode(unit * n).decode(),
        st.sampled_from([b"\x00", b"\x7f\xff", b"\xff"]),
        st.integers(10_000, 400_000),
    )
    bad = st.one_of(
        st.sampled_from(["!!", "abc", "a===", "====", "AAAA\n", "AA==AA==", "é"]),
        st.text(_TEXT, max_size=20),
    )
    return st.one_of(good, good, huge, bad, _scalars(), st.lists(_scalars(), max_size=2))


def play_audio_frames() -> st.SearchStrategy[Any]:
    """``playAudio`` objects: valid, wrongly typed media, odd content types, extra keys."""
    content = st.one_of(
        st.sampled_from(CONTENT_TYPES),
        st.sampled_from(["audio/pcm", "audio/pcm;rate=12345", "AUDIO/PCMU", "", "audio/opus"]),
        _scalars(),
    )
    media = st.fixed_dictionaries(
        {}, optional={"contentType": content, "payload": _payloads(), "x": _scalars()}
    )
    return st.fixed_dictionaries(
        {"eventType": st.just("playAudio")},
        optional={"media": st.one_of(media, media, _scalars()), "streamId": _scalars()},
    )


def bot_frames() -> st.SearchStrategy[str | bytes]:
    """One frame as the bot would send it: JSON text mostly, sometimes not JSON or binary."""
    objects = st.one_of(
        play_audio_frames(),
        play_audio_frames(),
        st.just({"eventType": "clear"}),
        st.fixed_dictionaries({"eventType": st.one_of(_scalars(), st.just("stop"))}),
        st.lists(_scalars(), max_size=3),
        _scalars(),
    )
    as_text = objects.map(lambda o: json.dumps(o, ensure_ascii=False))
    broken = st.builds(lambda t, n: t[: max(0, len(t) - n)], as_text, st.integers(1, 5))
    return st.one_of(
        as_text, as_text, as_text, broken, st.text(_TEXT, max_size=40), st.binary(max_size=64)
    )


def _valid_play_audio() -> str:
    payload = base64.b64encode(b"\x00\x01" * 160).decode()
    return json.dumps(
        {"eventType": "playAudio", "media": {"contentType": PCM16, "payload": payload}}
    )


def _feed(stream: MediaStream, playout: Playout, frame: str | bytes, at_ms: float) -> Any:
    """What the stream driver does with one frame, minus the socket and the recorder."""
    event = stream.receive(frame, at_ms)
    if isinstance(event, PlayAudio):
        playout.enqueue(event.samples, at_ms)
    elif isinstance(event, Clear):
        playout.clear(at_ms)
    else:
        assert isinstance(event, FrameViolation)
        assert event.rule in RULES, event.rule
        assert event.detail
    return event


@given(
    frames=st.lists(bot_frames(), min_size=1, max_size=6),
    bidirectional=st.booleans(),
)
@example(frames=[b"\x00\x01"], bidirectional=True)
@example(
    frames=['{"eventType": "playAudio", "media": {"contentType": "audio/pcmu"}}'],
    bidirectional=True,
)
@example(
    frames=[
        json.dumps({"eventType": "playAudio", "media": {"contentType": PCM16, "payload": "AAA="}})
    ],
    bidirectional=True,
)
@example(frames=['{"eventType": "playAudio", "media": {"contentType": ["x"]}}'], bidirectional=True)
def test_any_bot_frame_is_an_event_or_a_named_violation_and_the_stream_goes_on(
    frames: list[str | bytes], bidirectional: bool
) -> None:
    """Any frames give events or named violations, then a valid playAudio is still played."""
    config = StreamConfig("9900000", "c-fuzz", "s-fuzz", "bot", bidirectional=bidirectional)
    stream, playout = MediaStream(config), Playout()
    for i, frame in enumerate(frames):
        _feed(stream, playout, frame, 20.0 * i)
    after = _feed(stream, playout, _valid_play_audio(), 20.0 * len(frames))
    if bidirectional:
        assert isinstance(after, PlayAudio)
        assert playout.end >= len(after.samples)
    else:
        assert isinstance(after, FrameViolation) and after.rule == "play-audio-unidirectional"
    assert stream.frames_received == len(frames) + 1
