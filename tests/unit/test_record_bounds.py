"""Per-call bounds on the timeline and the journal; judging never reads a gap as absence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulator.call import recorder as recorder_module
from simulator.call.recorder import CallClock, CallRecorder, TimelineEvent
from simulator.judge import expect, gaps
from simulator.judge.expect import judge
from simulator.judge.gaps import Gap, Gaps
from simulator.rest import journal as journal_module
from simulator.rest.journal import ANY_CALL, Journal
from simulator.rest.routes import Route
from tests.unit.test_expect import entry, ev, obs, one


def _request(journal: Journal, call_id: str | None, route: str) -> None:
    journal.start(
        method="GET",
        path=f"/calls/{call_id}",
        query="",
        route=route,
        account_id="99",
        call_id=call_id,
        headers=[],
        body=b"",
    )


def test_the_timeline_keeps_the_first_events_of_a_kind_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past MAX_EVENTS_PER_KIND clears, clears are counted with their first time, noted once."""
    monkeypatch.setattr(recorder_module, "MAX_EVENTS_PER_KIND", 3)
    now = [0.0]
    rec = CallRecorder(CallClock(lambda: now[0]))
    heard: list[TimelineEvent] = []
    rec.subscribe(heard.append)
    for n in range(10):
        now[0] = n / 1000  # one ms apart
        rec.event("clear", bot_was_speaking=False)
    rec.event("call-ended", cause="hangup")
    assert [e.kind for e in rec.timeline].count("clear") == 3
    assert rec.events_not_kept.counts == {"clear": 7}
    assert rec.events_not_kept.first_at == {"clear": pytest.approx(3.0)}
    notes = [e for e in rec.timeline if e.kind == "note"]
    assert len(notes) == 1
    assert "first 3 clear events" in notes[0].detail["detail"]
    assert rec.first("call-ended") is not None  # other kinds are kept
    assert len(heard) == 11  # waits and the live view still hear every event


def test_a_flood_of_one_route_never_crowds_out_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests are capped per call and route: polling past the cap leaves the hang-up kept."""
    monkeypatch.setattr(journal_module, "MAX_REQUESTS_PER_ROUTE", 4)
    journal = Journal()
    for _ in range(10):
        _request(journal, "c-1", Route.GET_CALL)
    _request(journal, "c-1", Route.UPDATE_CALL)
    _request(journal, "c-2", Route.GET_CALL)
    assert [e.route for e in journal.entries].count(Route.GET_CALL) == 5
    assert journal.find(route=Route.UPDATE_CALL)
    assert journal.requests_not_kept_for("c-1") == {Route.GET_CALL: 6}
    assert journal.requests_not_kept_for("c-2") == {}
    assert journal.last_seq == 12  # every request was numbered, kept or not


def test_past_the_journal_s_total_every_call_may_be_missing_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past MAX_ENTRIES (new call ids each time), requests are counted under ANY_CALL."""
    monkeypatch.setattr(journal_module, "MAX_ENTRIES", 5)
    journal = Journal()
    for n in range(8):
        _request(journal, f"forged-{n}", Route.UPDATE_CALL)
    assert len(journal.entries) == 5
    assert journal.requests_not_kept.counts == {(ANY_CALL, Route.UPDATE_CALL): 3}
    assert journal.requests_not_kept_for("c-1") == {"update_call (any call)": 3}
    journal.clear()
    assert not journal.requests_not_kept


def _with_gaps(*timeline: TimelineEvent, **gaps: Any) -> Any:
    return obs(*timeline, gaps=Gaps(**gaps))


def test_an_absent_clear_fails_when_clears_in_its_window_were_not_kept() -> None:
    """The offending clear was dropped by the cap: absent fails, naming the count not kept."""
    timeline = (ev("clear", 100 + n) for n in range(3))
    expectation = one("clear: {after: bot_audio_first, absent: true}")
    complete = _with_gaps(*timeline, ev("bot-audio-first", 900))
    assert judge(complete, expectation).passed
    flooded = _with_gaps(
        *(ev("clear", 100 + n) for n in range(3)),
        ev("bot-audio-first", 900),
        events={"clear": Gap("clear events", 201, 500.0)},
    )
    v = judge(flooded, expectation)
    assert not v.passed
    assert "201 clear events from 500 ms on were not kept" in v.detail
    assert v.evidence["not_kept"] == ["201 clear events from 500 ms on were not kept"]


def test_a_gap_after_the_window_leaves_the_verdict_alone() -> None:
    """Clears dropped only after the window closed cannot be in it: absent still passes."""
    flooded = _with_gaps(
        ev("bot-audio-first", 100), events={"clear": Gap("clear events", 5, 9000.0)}
    )
    assert judge(flooded, one("clear: {after: bot_audio_first, within_ms: 1000, absent: true}"))


def test_counts_fail_and_an_at_least_pass_stands_over_a_gap() -> None:
    """Exact and most counts over a gap fail (the rest may match); a met min_count passes."""
    flooded = _with_gaps(
        ev("clear", 100), ev("clear", 200), events={"clear": Gap("clear events", 9, 300.0)}
    )
    counted = judge(flooded, one("clear: {count: 2}"))
    assert not counted.passed
    assert "cannot be shown" in counted.detail
    assert not judge(flooded, one("clear: {max_count: 5}")).passed
    assert judge(flooded, one("clear: {min_count: 2}")).passed


def test_an_anchor_that_was_not_kept_fails_instead_of_never_happening() -> None:
    """Absent after the 2nd clear, with only one clear kept: it fails, it does not pass."""
    flooded = _with_gaps(ev("clear", 100), events={"clear": Gap("clear events", 4, 200.0)})
    v = judge(flooded, one("hangup_request: {after: clear#2, absent: true}"))
    assert not v.passed
    assert "was not kept" in v.detail
    assert judge(
        obs(ev("clear", 100)), one("hangup_request: {after: clear#2, absent: true}")
    ).passed


def test_an_absent_hangup_fails_over_a_gap_in_hangups_only() -> None:
    """Not-kept update_call requests fail an absent hang-up; not-kept get_call ones do not."""
    polled = _with_gaps(requests={"get_call": Gap("get_call requests", 50, 0.0)})
    assert judge(polled, one("hangup_request: {absent: true}")).passed
    hung_up = _with_gaps(requests={"update_call": Gap("update_call requests", 3, 0.0)})
    v = judge(hung_up, one("hangup_request: {absent: true}"))
    assert not v.passed
    assert "update_call requests" in v.detail
    victim = _with_gaps(victim_requests={"update_call": Gap("update_call requests", 3, 0.0)})
    assert not judge(victim, one("hangup_request: {call: victim, absent: true}")).passed
    kept = obs(requests=[entry(10, "c-1", 200, {"state": "active"}, "update_call")])
    assert judge(kept, one("hangup_request: {absent: true}")).passed


def test_a_speech_spell_whose_end_was_not_kept_is_not_taken_as_long() -> None:
    """min_audio_ms cannot be met by a spell whose end the timeline did not keep."""
    spell = (ev("bot-speech-start", 100),)
    expectation = one("play_audio: {min_audio_ms: 500}")
    assert judge(obs(*spell), expectation).passed  # still speaking at the end: long enough
    flooded = _with_gaps(*spell, events={"bot-speech-end": Gap("bot-speech-end events", 9, 50)})
    v = judge(flooded, expectation)
    assert not v.passed
    assert "end was not kept" in v.detail


def test_violations_not_kept_fail_an_absent_violation_of_their_rule() -> None:
    """Dropped media-bad-json violations fail `violation: {rule: bad-json, absent}`, not others."""
    flooded = _with_gaps(violations={"media-bad-json": Gap("media-bad-json violations", 30, 0.0)})
    assert not judge(flooded, one("violation: {rule: bad-json, absent: true}")).passed
    assert judge(flooded, one("violation: {rule: bad-base64, absent: true}")).passed


def test_every_timed_expectation_kind_knows_the_records_it_reads() -> None:
    """A new expectation kind cannot be judged over a gap it does not know of."""
    known = {*gaps._EVENT_SOURCES, *gaps._REQUEST_ROUTES, "api_response", "violation"}
    assert set(expect._FINDERS) - {"orphaned_leg"} <= known


def test_caller_frames_are_kept_only_when_audible_and_copied_unless_told() -> None:
    """A silent frame is not kept; one non-zero sample is; copy=False keeps the array itself."""
    rec = CallRecorder(CallClock())
    silent = np.zeros(160, dtype=np.int16)
    blip = np.zeros(160, dtype=np.int16)
    blip[159] = -1
    rec.caller_frame(0, silent)
    rec.caller_frame(160, blip)
    rec.caller_frame(320, blip, copy=False)
    rec.caller_frame(480, np.zeros(7, dtype=np.int16))  # not a whole frame: same rule
    rec.caller_frame(640, np.array([0, 0, 3], dtype=np.int16))
    kept = rec._caller
    assert [start for start, _ in kept] == [160, 320, 640]
    assert kept[0][1] is not blip and kept[1][1] is blip
    assert rec.caller_track()[160 + 159] == -1
