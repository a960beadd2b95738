"""Judging calls: windows, anchors, absence, counts and order, on hand-made observations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from simulator.call.recorder import TimelineEvent
from simulator.call.stream import StreamOutcome
from simulator.judge.expect import Observation, judge, judge_all
from simulator.judge.scenario import Expectation, Scenario, parse_scenarios
from simulator.rest.journal import JournalEntry, Violation

PCMU = "audio/pcmu"


def expectations(*lines: str) -> tuple[Expectation, ...]:
    """Expectations parsed from YAML lines, exactly as a scenario file gives them."""
    body = "".join(f"      - {line}\n" for line in lines)
    (s,) = parse_scenarios(
        f"scenarios:\n  - name: t\n    victim: same_account\n    expect:\n{body}",
        Path("t.yaml"),
        load_audio=lambda p, n: np.zeros(1, dtype=np.int16),
    )
    assert isinstance(s, Scenario)
    return s.expect


def one(line: str) -> Expectation:
    """The single expectation of one YAML line."""
    return expectations(line)[0]


def ev(kind: str, at: float, **detail: Any) -> TimelineEvent:
    """A timeline event."""
    return TimelineEvent(kind, at, detail)


def entry(at: float, call_id: str, status: int, body: dict[str, Any] | str, route: str) -> Any:
    """A journaled Voice API request, with its time on the call's clock."""
    text = body if isinstance(body, str) else json.dumps(body)
    e = JournalEntry(
        seq=1,
        at=at,
        method="PUT" if route == "update_bxml" else "POST",
        path=f"/api/v2/accounts/99/calls/{call_id}",
        query="",
        route=route,
        account_id="99",
        call_id=call_id,
        headers={"content-type": "application/json"},
        body=text,
        status=status,
    )
    return (at, e)


def obs(*timeline: TimelineEvent, **changes: Any) -> Observation:
    """An observation of a call with this timeline (one μ-law stream)."""
    stream = StreamOutcome("s", "bot", "wss://x", "ws://x", content_types=[PCMU])
    base: dict[str, Any] = {
        "call_id": "c-1",
        "timeline": sorted(timeline, key=lambda e: e.at_ms),
        "exchange": None,
        "streams": [stream],
        "requests": [],
        "phase": "disconnected",
        "cause": "hangup",
    }
    return Observation(**(base | changes))


BARGE_IN = obs(
    ev("stream-accepted", 100),
    ev("bot-speech-start", 400),
    ev("caller-audio-start", 900),
    ev("clear", 1300, bot_was_speaking=True),
    ev("caller-audio-start", 5000),
    ev("clear", 5400, bot_was_speaking=False),
    ev("bot-speech-start", 7000),
)


def test_an_event_inside_its_window_passes_and_says_when() -> None:
    """A clear 400 ms after the caller starts passes a 1500 ms budget, with the delay shown."""
    v = judge(BARGE_IN, one("clear: {after: caller_audio_start, within_ms: 1500}"))
    assert v.passed
    assert v.at_ms == 1300
    assert "400 ms after caller_audio_start" in v.detail


def test_an_event_after_its_budget_fails_and_says_by_how_much() -> None:
    """A clear that comes 400 ms after its anchor fails a 300 ms budget, with both figures."""
    v = judge(BARGE_IN, one("clear: {after: caller_audio_start, within_ms: 300}"))
    assert not v.passed
    assert "1,300 ms, 400 ms after its anchor" in v.detail
    assert v.over is not None and round(v.over, 2) == 1.33


def test_only_a_late_arrival_is_a_missed_budget_the_machine_can_explain() -> None:
    """No clear at all, or a wrong one inside the budget, is the bot's: no ``over`` to re-run."""
    never = obs(ev("caller-audio-start", 900))
    assert judge(never, one("clear: {after: caller_audio_start, within_ms: 300}")).over is None
    wrong = one("clear: {after: caller_audio_start#2, within_ms: 1000, bot_was_speaking: true}")
    assert not judge(BARGE_IN, wrong).passed
    assert judge(BARGE_IN, wrong).over is None
    unbounded = one("clear: {after: caller_audio_start, count: 3}")
    assert judge(BARGE_IN, unbounded).over is None


def test_properties_are_checked_and_the_mismatch_is_named() -> None:
    """A clear while the bot was silent does not satisfy bot_was_speaking: true."""
    e = one("clear: {after: caller_audio_start#2, within_ms: 1000, bot_was_speaking: true}")
    v = judge(BARGE_IN, e)
    assert not v.passed
    assert "the bot was not speaking" in v.detail


def test_absent_fails_on_a_matching_event_and_passes_without_one() -> None:
    """``absent`` is broken by the first matching event in the window, and only by it."""
    quiet = one("play_audio: {after: clear, within_ms: 2000, absent: true}")
    assert judge(BARGE_IN, quiet).passed  # the next bot audio is 5.7 s after the clear
    talks = one("play_audio: {after: clear, within_ms: 6000, absent: true}")
    v = judge(BARGE_IN, talks)
    assert not v.passed
    assert "must not happen" in v.detail


def test_an_anchor_that_never_happened_fails_a_presence_and_passes_an_absence() -> None:
    """Nothing can follow an event that never came; the detail says when the call ended."""
    timeline = obs(ev("stream-accepted", 10), ev("call-ended", 2000, cause="hangup"))
    v = judge(timeline, one("play_audio: {after: caller_audio_end}"))
    assert not v.passed
    assert "caller_audio_end never happened (0 seen; the call ended at 2,000 ms (hangup))" in (
        v.detail
    )
    assert judge(timeline, one("play_audio: {after: caller_audio_end, absent: true}")).passed


def test_counts_are_exact_minimum_or_maximum() -> None:
    """count, min_count and max_count count matching events in the window."""
    assert judge(BARGE_IN, one("clear: {count: 2}")).passed
    assert not judge(BARGE_IN, one("clear: {count: 1}")).passed
    assert judge(BARGE_IN, one("clear: {min_count: 2}")).passed
    assert not judge(BARGE_IN, one("clear: {min_count: 3}")).passed
    assert judge(BARGE_IN, one("clear: {max_count: 2}")).passed
    assert judge(obs(), one("clear: {max_count: 2}")).passed  # none is at most two
    v = judge(BARGE_IN, one("clear: {max_count: 1}"))
    assert not v.passed
    assert "expected at most 1" in v.detail


def test_ordered_fails_when_matches_come_out_of_order() -> None:
    """With ordered, a later-listed expectation matched earlier fails, naming both."""
    es = expectations("clear: {after: caller_audio_start}", "stream_accepted: {}")
    verdicts = judge_all(BARGE_IN, es, ordered=True)
    assert [v.passed for v in verdicts] == [True, False]
    assert "out of order" in verdicts[1].detail
    assert all(v.passed for v in judge_all(BARGE_IN, es, ordered=False))


def test_encoding_is_judged_on_every_playaudio_of_the_call() -> None:
    """play_audio with an encoding fails if any playAudio came in another content type."""
    assert judge(BARGE_IN, one("play_audio: {encoding: pcmu}")).passed
    v = judge(BARGE_IN, one("play_audio: {encoding: pcm24k}"))
    assert not v.passed
    assert "the bot sent playAudio as ['audio/pcmu']" in v.detail


HANGUP = {"state": "completed"}


def test_requests_for_the_victim_are_told_apart_from_the_calls_own() -> None:
    """hangup_request and api_response look at this call, or with call: victim at the victim."""
    observed = obs(
        requests=[entry(3000, "c-1", 200, HANGUP, "update_call")],
        victim_requests=[entry(2900, "c-v", 200, HANGUP, "update_call")],
        victim_id="c-v",
    )
    assert judge(observed, one("hangup_request: {status: 200}")).passed
    v = judge(observed, one("api_response: {call: victim, absent: true}"))
    assert not v.passed
    assert "c-v" in v.detail
    assert judge(obs(victim_id="c-v"), one("api_response: {call: victim, absent: true}")).passed


def test_a_transfer_must_name_the_target_and_get_the_status() -> None:
    """transfer_request checks <Transfer> in the PUT body, the status and the target number."""
    bxml = "<Bxml><Transfer><PhoneNumber>+19195550123</PhoneNumber></Transfer></Bxml>"
    observed = obs(
        requests=[entry(4000, "c-1", 204, bxml, "update_bxml")],
        templates={"HUMAN_AGENT_NUMBER": "+19195550123"},
    )
    e = one("transfer_request: {status: 204, target: '${HUMAN_AGENT_NUMBER}', count: 1}")
    assert judge(observed, e).passed
    v = judge(observed, one("transfer_request: {target: '+15550000000'}"))
    assert not v.passed
    assert "does not name +15550000000" in v.detail


def test_call_state_reads_the_final_state_of_either_call() -> None:
    """call_state compares the final phase and cause of the call or of its victim."""
    observed = obs(victim_id="c-v", victim_phase="answered")
    assert judge(observed, one("call_state: {state: disconnected, cause: hangup}")).passed
    assert judge(observed, one("call_state: {call: victim, state: answered}")).passed
    v = judge(observed, one("call_state: {call: victim, state: disconnected}"))
    assert not v.passed
    assert "the victim call ended 'answered'" in v.detail


def test_refusals_are_seen_as_http_status_or_as_close_1008() -> None:
    """stream_refused counts uvicorn's 403 on the upgrade and a close with 1008, and says which."""
    http = obs(ev("stream-refused", 500, http_status=403, stream="replay"))
    close = obs(ev("ws-closed", 500, code=1008, by="bot", stream="bot"))
    by_http = judge(http, one("stream_refused: {stream: replay}"))
    assert by_http.evidence["matched"]["form"] == "http"
    assert judge(close, one("stream_refused: {}")).evidence["matched"]["form"] == "close"
    assert not judge(http, one("stream_refused: {stream: bot}")).passed


def test_min_audio_ms_ignores_a_blip_but_not_speech() -> None:
    """A 40 ms frame in flight after a clear is no speech; 600 ms of audio is."""
    observed = obs(
        ev("clear", 1000, bot_was_speaking=True),
        ev("bot-speech-start", 1005),
        ev("bot-speech-end", 1045),
        ev("bot-speech-start", 1500),
        ev("bot-speech-end", 2100),
    )
    blip = one("play_audio: {after: clear, within_ms: 400, min_audio_ms: 200, absent: true}")
    assert judge(observed, blip).passed
    speech = one("play_audio: {after: clear, within_ms: 2000, min_audio_ms: 200, absent: true}")
    v = judge(observed, speech)
    assert not v.passed
    assert "bot audio (600 ms) at 1,500 ms" in v.detail


def test_a_violation_is_judged_at_its_own_time_not_by_its_place_in_a_list() -> None:
    """A violation recorded without a timeline event (a bot child's) keeps its own time."""
    late_media = Violation("media-bad-json", "not JSON", evidence={"rule": "bad-json"})
    child = Violation("request-outside-loopback", "api.openai.com refused")
    seen = obs(
        ev("violation", 2500, rule="media-bad-json"), violations=[(900, child), (2500, late_media)]
    )
    [media] = judge_all(
        seen, expectations("violation: {rule: bad-json, after: call_start, within_ms: 3000}")
    )
    assert media.passed
    assert media.at_ms == 2500
    [early] = judge_all(seen, expectations("violation: {after: call_start, within_ms: 1000}"))
    assert early.passed
    assert early.at_ms == 900


def test_a_violation_answers_to_its_kind_its_rule_and_the_media_prefix() -> None:
    """An expectation may name a frame violation by kind, by rule, or as media- plus rule."""
    v = Violation("media-bad-json", "not JSON", evidence={"rule": "bad-json", "frame": "{"})
    assert v.names == {"media-bad-json", "bad-json"}
    assert Violation("orphaned-leg", "left up").names == {"orphaned-leg"}
    assert v.report(12.34) == {
        "kind": "media-bad-json",
        "detail": "not JSON",
        "rule": "bad-json",
        "frame": "{",
        "at_ms": 12.3,
    }


def test_a_rejected_stream_is_an_anchor() -> None:
    """A scenario can time what follows a stream bwsim rejected (a duplicate name)."""
    seen = obs(ev("stream-rejected", 500, cause="duplicate"), ev("bot-speech-start", 900))
    v = judge(seen, one("play_audio: {after: stream_rejected, within_ms: 1000}"))
    assert v.passed, v.detail
    assert "400 ms after stream_rejected" in v.detail
