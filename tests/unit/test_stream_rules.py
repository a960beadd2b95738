"""Several streams on one call: which are admitted, which tracks each gets, a copy each."""

from __future__ import annotations

import numpy as np

from simulator.protocol.codec import FRAME_BYTES, ulaw_encode
from simulator.protocol.media import (
    MAX_KEPT_FRAMES,
    SILENT_FRAME,
    CallerSource,
    Playout,
    mixed_window,
)
from simulator.protocol.stream_rules import (
    MAX_CONCURRENT_TRACKS,
    admit_stream,
    sends_inbound,
    sends_outbound,
)

IN = ("inbound",)
OUT = ("outbound",)
BOTH = ("inbound", "outbound")


def ramp(frames: int, start: int = 0) -> np.ndarray:
    """Audio whose every 20 ms frame differs from the others."""
    return (np.arange(frames * FRAME_BYTES) + start).astype(np.int16)


def test_a_new_name_within_the_limit_is_admitted() -> None:
    """A stream with a free name and room for its tracks opens."""
    assert admit_stream("b", BOTH, {"a": IN}) is None


def test_a_taken_name_is_a_duplicate_naming_the_original() -> None:
    """A name held by an open stream is rejected as duplicate, naming that stream."""
    rejection = admit_stream("a", OUT, {"a": IN})
    assert rejection is not None
    assert (rejection.cause, rejection.original) == ("duplicate", "a")
    assert "'a'" in rejection.detail


def test_the_fifth_track_is_over_the_limit() -> None:
    """Four one-track streams fill the call; one more track is a track-limit rejection."""
    open_streams = {f"s{n}": IN for n in range(MAX_CONCURRENT_TRACKS)}
    rejection = admit_stream("s9", OUT, open_streams)
    assert rejection is not None
    assert (rejection.cause, rejection.original) == ("track-limit", None)
    assert "at most 4 tracks" in rejection.detail


def test_both_counts_two_tracks() -> None:
    """tracks="both" takes two of the four: three tracks in use leave no room for it."""
    assert admit_stream("x", BOTH, {"a": IN, "b": IN}) is None
    rejection = admit_stream("x", BOTH, {"a": IN, "b": IN, "c": OUT})
    assert rejection is not None
    assert rejection.cause == "track-limit"


def test_the_name_is_checked_before_the_limit() -> None:
    """A taken name on a full call is reported as duplicate (the name is checked first)."""
    open_streams = {f"s{n}": IN for n in range(MAX_CONCURRENT_TRACKS)}
    rejection = admit_stream("s0", IN, open_streams)
    assert rejection is not None
    assert rejection.cause == "duplicate"


def test_tracks_decide_which_frames_a_stream_gets() -> None:
    """A stream gets the caller for inbound, what the caller hears for outbound, both for both."""
    assert (sends_inbound(IN), sends_outbound(IN)) == (True, False)
    assert (sends_inbound(OUT), sends_outbound(OUT)) == (False, True)
    assert (sends_inbound(BOTH), sends_outbound(BOTH)) == (True, True)


def test_every_reader_gets_every_caller_frame() -> None:
    """Two streams reading the caller each get all of an utterance, not half of it each."""
    source = CallerSource()
    one, two = source.reader(), source.reader()
    audio = ramp(6)
    source.say(audio, "hello")
    got_one, got_two = bytearray(), bytearray()
    for _ in range(6):
        got_one += one.next_frame().ulaw
        got_two += two.next_frame().ulaw
    assert bytes(got_one) == bytes(got_two) == ulaw_encode(audio)
    assert one.next_frame().ulaw == two.next_frame().ulaw == SILENT_FRAME


def test_only_the_first_reader_of_a_frame_gets_it_fresh() -> None:
    """The reader that takes a frame first records it; the copy says it is not fresh."""
    source = CallerSource()
    one, two = source.reader(), source.reader()
    source.say(ramp(2), "hi")
    first, copy = two.next_frame(), one.next_frame()
    assert (first.fresh, copy.fresh) == (True, False)
    assert (first.label, first.before) == (copy.label, copy.before) == ("hi", None)
    assert first.ulaw == copy.ulaw


def test_a_reader_starts_at_the_next_frame() -> None:
    """A stream that opens later gets the caller from then on, not what was said before."""
    source = CallerSource()
    early = source.reader()
    audio = ramp(4)
    source.say(audio, "x")
    early.next_frame()
    late = source.reader()
    rest_early = b"".join(early.next_frame().ulaw for _ in range(3))
    rest_late = b"".join(late.next_frame().ulaw for _ in range(3))
    assert rest_early == rest_late == ulaw_encode(audio)[FRAME_BYTES:]


def test_a_closed_reader_holds_back_no_frames() -> None:
    """Frames are kept only for readers still reading: a closed one does not pin them."""
    source = CallerSource()
    one, two = source.reader(), source.reader()
    two.close()
    source.say(ramp(3), "x")
    for _ in range(3):
        assert one.next_frame().fresh
    assert not source._kept  # what is kept is the point


def test_a_reader_far_behind_skips_to_the_oldest_kept_frame() -> None:
    """Frames kept for a lagging reader are capped; beyond it, the reader skips ahead."""
    source = CallerSource()
    ahead, behind = source.reader(), source.reader()
    for _ in range(MAX_KEPT_FRAMES + 10):
        ahead.next_frame()
    behind.next_frame()
    assert behind.cursor == 10 + 1
    assert len(source._kept) <= MAX_KEPT_FRAMES


def test_the_outbound_track_mixes_every_stream_of_the_call() -> None:
    """What the caller hears is the sum of every stream's bot audio, clipped to 16 bits."""
    a, b = Playout(), Playout()
    a.enqueue(np.full(160, 1000, dtype=np.int16), 0.0)
    b.enqueue(np.full(80, 32000, dtype=np.int16), 10.0)
    mixed = mixed_window([a, b], 0, 160)
    assert list(mixed[:80]) == [1000] * 80
    assert list(mixed[80:]) == [32767] * 80
    assert list(mixed_window([a], 0, 160)) == list(a.window(0, 160))
