"""Call metrics measured on synthetic tracks whose true latencies are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator.call.recorder import CallClock, CallRecorder
from simulator.judge.metrics import (
    MetricsConfig,
    measure,
    measure_tracks,
    speech_spans,
    summarize,
)
from simulator.protocol.media import Playout

RATE = 8000


def track(seconds: float, *spans: tuple[float, float], amp: float = 8000) -> np.ndarray:
    """A track of ``seconds`` with a 300 Hz tone over each ``(start_s, end_s)``."""
    out = np.zeros(round(seconds * RATE), dtype=np.int16)
    for lo, hi in spans:
        a, b = round(lo * RATE), round(hi * RATE)
        t = np.arange(b - a) / RATE
        # Start on a peak so the first and last samples are audible: edges are exact.
        out[a:b] = (np.cos(2 * np.pi * 300 * t) * amp).astype(np.int16)
    return out


def test_speech_spans_find_the_edges_to_the_millisecond() -> None:
    """Spans found by energy start and end where the tone does, within 1 ms."""
    spans = speech_spans(track(3, (0.5, 1.5), (2.0, 2.25)), -40)
    assert len(spans) == 2
    assert spans[0].start_ms == pytest.approx(500, abs=1)
    assert spans[0].end_ms == pytest.approx(1500, abs=1)
    assert spans[1].start_ms == pytest.approx(2000, abs=1)
    assert spans[1].end_ms == pytest.approx(2250, abs=1)


def test_noise_below_the_threshold_is_silence() -> None:
    """Low-level noise after the speech does not extend it (trailing silence in a file)."""
    caller = track(3, (0.5, 1.5))
    rng = np.random.default_rng(1)
    caller[12000:] += rng.normal(0, 30, len(caller) - 12000).astype(np.int16)
    spans = speech_spans(caller, -40)
    assert [round(s.end_ms) for s in spans] == [1500]


def test_response_latency_is_measured_from_the_end_of_speech_not_the_label() -> None:
    """The caller's file ends 300 ms after its speech; the latency counts from the speech."""
    caller = track(4, (0.5, 1.5))
    bot = track(4, (0.6, 0.9), (2.2, 3.0))  # greeting, then the reply 700 ms after speech
    m = measure_tracks(
        caller,
        bot,
        stream_opened_at_ms=100,
        call_end_ms=4000,
        labels=[(500, 1800, "hello")],
    )
    assert m.first_audio_ms == pytest.approx(500, abs=1)
    assert len(m.turns) == 1
    turn = m.turns[0]
    assert turn.label == "hello"
    assert turn.outcome == "answered"
    assert turn.response_ms == pytest.approx(700, abs=1)
    assert m.failures() == []


def test_a_bot_that_never_speaks_fails_and_has_no_latency() -> None:
    """Silence from the bot is a failure, never 0 ms."""
    caller = track(5, (0.5, 1.5))
    m = measure_tracks(
        caller, np.zeros(40000, np.int16), stream_opened_at_ms=100, call_end_ms=5000,
        play_audio_frames=3,
    )  # fmt: skip
    assert m.first_audio_ms is None
    assert m.response_latencies == []
    assert m.turns[0].outcome == "unanswered"
    failures = m.failures()
    assert any("never spoke" in f and "none of them audible" in f for f in failures)
    assert any("did not answer caller turn 1" in f for f in failures)


def test_no_stream_means_the_bot_never_spoke() -> None:
    """A call whose media stream never opened reports the bot never spoke."""
    m = measure_tracks(
        np.zeros(0, np.int16), np.zeros(0, np.int16), stream_opened_at_ms=None, call_end_ms=100
    )
    assert m.failures() == ["the bot never spoke: no media stream was opened"]


def test_barge_in_clear_latency_and_audio_heard_after() -> None:
    """Caller talks at 2.0 s over the bot; clear at 2.35 s; bot heard until 2.4 s."""
    caller = track(5, (2.0, 3.0))
    bot = track(5, (0.5, 2.4), (3.5, 4.0))
    m = measure_tracks(caller, bot, stream_opened_at_ms=0, call_end_ms=5000, clears=[2350])
    assert len(m.barge_ins) == 1
    b = m.barge_ins[0]
    assert b.clear_ms == pytest.approx(350, abs=1)
    assert b.heard_after_ms == pytest.approx(400, abs=1)
    assert not b.failed
    assert m.talk_over_ms == pytest.approx(400, abs=2)
    assert m.turns[0].response_ms == pytest.approx(500, abs=1)
    assert m.failures() == []


def test_talking_through_a_barge_in_is_a_failure() -> None:
    """No clear, and the bot keeps talking 2 s over the caller: a failure sentence."""
    caller = track(6, (2.0, 3.0))
    bot = track(6, (0.5, 4.0))
    m = measure_tracks(caller, bot, stream_opened_at_ms=0, call_end_ms=6000)
    assert m.barge_ins[0].clear_ms is None
    assert m.barge_ins[0].failed
    assert any("did not stop" in f for f in m.failures())


def test_bot_finishing_its_sentence_is_not_a_failed_barge_in() -> None:
    """Bot audio ending within the grace after the caller's onset needs no clear."""
    caller = track(5, (2.0, 3.0))
    bot = track(5, (0.5, 2.1), (3.4, 4.0))
    m = measure_tracks(caller, bot, stream_opened_at_ms=0, call_end_ms=5000)
    assert not m.barge_ins[0].failed
    assert m.failures() == []


def test_pauses_within_a_turn_do_not_split_it() -> None:
    """A 400 ms pause with no bot speech keeps one turn; a bot reply in a gap splits it."""
    one = measure_tracks(
        track(4, (0.5, 1.0), (1.4, 2.0)),
        track(4, (2.5, 3.0)),
        stream_opened_at_ms=0,
        call_end_ms=4000,
    )
    assert [(round(t.start_ms), round(t.end_ms)) for t in one.turns] == [(500, 2000)]
    two = measure_tracks(
        track(6, (0.5, 1.0), (1.5, 2.0)),
        track(6, (1.2, 1.4), (2.5, 3.0)),
        stream_opened_at_ms=0,
        call_end_ms=6000,
    )
    assert [round(t.response_ms or -1) for t in two.turns] == [200, 500]


def test_caller_speaking_again_soon_supersedes_the_turn() -> None:
    """A turn the caller follows up within the reply window is no failure and no sample."""
    m = measure_tracks(
        track(5, (0.5, 1.0), (1.7, 2.2)),
        track(5, (2.6, 3.0)),
        stream_opened_at_ms=0,
        call_end_ms=5000,
        labels=[(500, 1000, "a"), (1700, 2200, "b")],
    )
    assert [t.outcome for t in m.turns] == ["superseded", "answered"]
    assert m.failures() == []


def test_summarize_reports_no_p95_below_twenty_samples() -> None:
    """p95 needs 20 samples; p50 and max are nearest-rank; empty has no figures."""
    assert summarize([]) == {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    few = summarize([300.0, 100.0, 200.0])
    assert few == {"n": 3, "p50_ms": 200.0, "p95_ms": None, "max_ms": 300.0}
    many = summarize([float(v) for v in range(1, 21)])
    assert many == {"n": 20, "p50_ms": 10.0, "p95_ms": 19.0, "max_ms": 20.0}


def test_measure_reads_a_call_result_recording_and_timeline() -> None:
    """measure() takes the tracks from the recorder and the clears from the timeline."""
    from simulator.call.result import CallResult

    rec = CallRecorder(CallClock(now=lambda: 0.0))
    caller = track(4, (0.5, 1.5))
    for k in range(0, len(caller), 160):
        rec.caller_frame(k, caller[k : k + 160])
    playout = Playout()
    rec.playouts.append(playout)
    playout.enqueue(track(0.8, (0.0, 0.8)), 2100.0)  # heard from 2.1 s: 600 ms after speech
    rec.event("stream-accepted", at_ms=50.0)
    rec.event("caller-audio-start", at_ms=0.0, label="audio")
    rec.event("caller-audio-end", at_ms=4000.0, label="audio")
    rec.event("ws-closed", at_ms=4500.0)
    result = CallResult(
        call_id="c-1",
        account_id="9900000",
        application_id="app",
        exchange=None,
        bxml_error=None,
        streams=[],
        recorder=rec,
        phase="disconnected",
        disconnect_cause="hangup",
        api_requests=[],
        violations=[],
        errors=[],
    )
    m = measure(result, MetricsConfig())
    assert m.first_audio_ms == pytest.approx(2050, abs=1)
    assert m.turns[0].response_ms == pytest.approx(600, abs=1)
    data = json.loads(json.dumps(m.to_dict()))
    assert data["response_ms"]["n"] == 1
    assert data["failures"] == []
