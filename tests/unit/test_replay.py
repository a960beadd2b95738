"""bwsim replay's pure parts: the plan, the turn splitter and schedule, the comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from simulator.archive.model import ApiRecord, ArchiveError, WebhookRecord
from simulator.cli.main import main
from simulator.errors import ScenarioError
from simulator.judge.metrics import caller_turns
from simulator.judge.scenario import load_scenarios
from simulator.replay.compare import SAME_LATENCY_MS, compare
from simulator.replay.facts import CallFacts, TurnFact, facts_from_archive
from simulator.replay.plan import plan_replay
from simulator.replay.scenario_text import scenario_text
from simulator.replay.turns import split_turns, turn_schedule
from tests.replay_archives import (
    CALL_ID,
    build_archive,
    hangup_request,
    initiate_body,
    silence,
    tone,
)


def _cat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts).astype(np.int16)


# -- the turn splitter -------------------------------------------------------------------


def test_tones_with_long_gaps_are_separate_turns_and_short_pauses_are_not() -> None:
    """A plain mono recording is cut at pauses of turn_gap_ms (600) or more, not shorter."""
    track = _cat(silence(300), tone(500), silence(1000), tone(400), silence(300), tone(300))
    turns = caller_turns(track)
    assert [(round(t.start_ms), round(t.end_ms)) for t in turns] == [(300, 800), (1800, 2800)]
    pieces = split_turns(track)
    assert len(pieces) == 2
    assert len(pieces[0]) == pytest.approx(540 * 8, abs=8)  # 500 ms and 20 ms either side


def test_bot_speech_between_two_caller_bursts_splits_them_into_two_turns() -> None:
    """With the bot's leg, bot speech in a short caller pause ends the turn, as in the metrics."""
    caller = _cat(tone(500), silence(400), tone(500))
    bot = _cat(silence(550), tone(200, 300), silence(700))
    assert len(caller_turns(caller)) == 1
    assert len(caller_turns(caller, bot_track=bot)) == 2


def test_the_schedule_anchors_each_turn_on_what_came_before_it_in_the_recording() -> None:
    """Greeting, reply, a turn the bot never answered, and a barge-in, each with its delay."""
    caller = _cat(silence(1500), tone(500), silence(1500), tone(500), silence(800), tone(500))
    bot = _cat(silence(100), tone(1000, 300), silence(1500), tone(1000, 300))
    #           greeting 100-1100            reply 2600-3600; turn 2 at 3500 is a barge-in
    steps = turn_schedule(caller, bot, stream_opened_ms=50.0)
    assert [(s.after, round(s.delay_ms), s.barge_in) for s in steps] == [
        ("greeting", 1400, False),
        ("reply", 900, True),
        ("turn-end", 800, False),
    ]
    assert "a barge-in" in steps[1].describe()
    assert "the bot did not answer it" in steps[2].describe()


def test_a_caller_who_speaks_before_the_bot_is_anchored_on_the_stream_opening() -> None:
    """No bot audio before the first turn: it is sent its recorded delay after the opening."""
    steps = turn_schedule(_cat(silence(700), tone(400)), silence(1100), stream_opened_ms=200.0)
    assert [(s.after, round(s.delay_ms)) for s in steps] == [("stream", 500)]


# -- the plan ----------------------------------------------------------------------------


def test_the_plan_takes_numbers_path_and_extra_fields_and_leaves_ids_fresh() -> None:
    """from/to, the path, uui and custom fields come from the archive; ids and times do not."""
    body = initiate_body(uui="abc;encoding=jwt", custom="x")
    archive = build_archive(
        _cat(silence(200), tone(500)),
        body=body,
        caller_offset_ms=240.0,
        metadata={"region": "eu", "origCallId": CALL_ID},
    )
    archive.webhooks[0].path = "/voice?tenant=7"
    archive.webhooks.append(
        WebhookRecord(
            at_ms=5000.0,
            method="POST",
            path="/status",
            headers={},
            body=json.dumps({"eventType": "disconnect"}),
        )
    )
    plan = plan_replay(archive, timing="recorded")
    opts = plan.options
    assert (opts.from_, opts.to) == ("+15550001111", "+15550002222")
    assert opts.webhook_path == "/voice?tenant=7"
    assert opts.disconnect_path == "/status"
    assert opts.initiate_overrides == {"uui": "abc;encoding=jwt", "custom": "x"}
    assert opts.metadata_overrides == {"region": "eu"}
    assert any("origCallId" in n for n in plan.notes)
    assert plan.recorded_ids["callId"] == CALL_ID
    assert plan.offset_ms == pytest.approx(240.0)
    assert len(plan.caller) == len(archive.frames) * 160


def test_an_outbound_recording_is_refused_naming_the_field() -> None:
    """A call that began with an answer webhook cannot be replayed: ArchiveError, exit 2."""
    archive = build_archive(tone(300), body=initiate_body(eventType="answer", direction="outbound"))
    with pytest.raises(ArchiveError, match="outbound") as caught:
        plan_replay(archive)
    assert caught.value.field_name == "webhooks[0].body"


def test_the_caller_waits_longer_than_recorded_only_when_the_bot_may_have_hung_up() -> None:
    """Caller hung up then: it hangs up after the recorded tail; bot hung up: tail + linger."""
    caller = _cat(tone(500), silence(1000))
    mine = plan_replay(build_archive(caller, voice_api=[]), timing="turns", linger_ms=3000)
    theirs = plan_replay(
        build_archive(caller, voice_api=[hangup_request(1500)]), timing="turns", linger_ms=3000
    )
    assert theirs.hangup_after_ms == pytest.approx(mine.hangup_after_ms + 3000)


def test_bwsim_replay_of_a_folder_without_an_archive_is_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad archive stops bwsim replay before any bot starts, exit 2, the file named."""
    assert main(["replay", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a call archive: no archive.json there" in err


# -- what the recording did ---------------------------------------------------------------


def test_the_recording_facts_read_hang_ups_transfers_and_what_cannot_be_told() -> None:
    """<Hangup/> or a completed state is a hang-up; no Voice API record leaves it unknown."""
    hangup_bxml = "<Response><SpeakSentence>bye</SpeakSentence><Hangup/></Response>"
    assert facts_from_archive(build_archive(tone(300), answer=hangup_bxml)).hangup is True
    by_api = facts_from_archive(build_archive(tone(300), voice_api=[hangup_request(400)]))
    assert (by_api.hangup, by_api.hangup_how) == (True, "a Voice API request (state completed)")
    assert facts_from_archive(build_archive(tone(300), voice_api=[])).hangup is False
    unknown = facts_from_archive(build_archive(tone(300)))
    assert unknown.hangup is None
    assert "cannot be told" in unknown.hangup_how
    transfer = ApiRecord(400.0, "PUT", "/calls/x/bxml", "<Bxml><Transfer/></Bxml>", 204)
    assert facts_from_archive(build_archive(tone(300), voice_api=[transfer])).transfers == 1


def test_a_hang_up_of_a_call_already_ended_is_no_hang_up() -> None:
    """A completed-state request answered 404 (the caller hung up first) is not the bot's."""
    late = build_archive(tone(300), voice_api=[hangup_request(400, status=404)])
    assert facts_from_archive(late).hangup is False


def test_a_cleared_barge_in_is_read_from_the_recordings_frames() -> None:
    """Caller over the bot, then the bot's clear: one barge-in, cleared, and one clear frame."""
    archive = build_archive(
        _cat(silence(600), tone(500), silence(1500)), [(100.0, tone(2000, 300))], clears=[800.0]
    )
    facts = facts_from_archive(archive)
    assert facts.clears == 1
    (turn,) = facts.turns
    assert (turn.barge_in, turn.cleared) == (True, True)
    assert facts.closed_by == "caller"
    assert facts.tracks == ["inbound"]


# -- the comparison ----------------------------------------------------------------------


def _turn(response: float | None, *, barge: bool = False, cleared: bool | None = None) -> TurnFact:
    outcome = "answered" if response is not None else "unanswered"
    return TurnFact(1, 1000.0, 2000.0, outcome, response, barge, cleared)


def _facts(**changes: object) -> CallFacts:
    facts = CallFacts(
        turns=[_turn(700.0, barge=True, cleared=True)],
        clears=1,
        hangup=True,
        hangup_how="a Voice API request (state completed)",
        closed_by="caller",
        close_code=1000,
    )
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def test_the_same_events_exit_0() -> None:
    """Same clears, hang-up and close, latency within the tolerance: nothing required, exit 0."""
    now = _facts(turns=[_turn(700.0 + SAME_LATENCY_MS - 1, barge=True, cleared=True)])
    c = compare(_facts(), now)
    assert c.exit_code == 0
    assert c.differences == []
    assert "(same)" in "\n".join(c.describe())


def test_a_missing_clear_on_barge_in_is_named_and_required() -> None:
    """The bot cleared the barge-in then and not now: the clear and the turn are named."""
    now = _facts(clears=0, turns=[_turn(900.0, barge=True, cleared=False)])
    c = compare(_facts(), now)
    assert c.exit_code == 1
    texts = [d.text for d in c.required]
    assert any(
        t.startswith("clear: the bot sent 1 clear frame(s) then and none now") for t in texts
    )
    assert any("turn 1: the caller talked over the bot" in t for t in texts)


def test_a_missing_hang_up_is_named_and_required() -> None:
    """The bot hung up then and not now: a required difference that says so."""
    c = compare(_facts(), _facts(hangup=False, hangup_how=""))
    assert c.exit_code == 1
    (d,) = c.required
    assert d.what == "hang-up"
    assert d.text.startswith("hang-up: the bot hung up then (a Voice API request")


def test_a_hang_up_the_archive_cannot_tell_is_reported_not_required() -> None:
    """Then unknown (no Voice API record), now a hang-up: reported, exit 0."""
    c = compare(_facts(hangup=None, hangup_how="unknown: …"), _facts())
    assert c.exit_code == 0
    assert [d.what for d in c.differences] == ["hang-up"]


def test_latency_changes_are_required_only_with_a_limit() -> None:
    """A turn 2 s slower is reported; with max_latency_change_ms 1000 it fails."""
    slower = _facts(turns=[_turn(2700.0, barge=True, cleared=True)])
    assert compare(_facts(), slower).exit_code == 0
    c = compare(_facts(), slower, max_latency_change_ms=1000)
    assert c.exit_code == 1
    assert "response latency changed by +2000 ms" in c.required[0].text


def test_a_turn_answered_then_and_unanswered_now_is_required() -> None:
    """The reply itself is missing: required even without a latency limit."""
    c = compare(_facts(), _facts(turns=[_turn(None)]))
    assert any(d.text.startswith("turn 1: the bot answered it then") for d in c.required)


def test_a_new_transfer_and_a_different_closer_are_required() -> None:
    """A transfer now that did not happen then, and the bot closing the stream, both fail."""
    then = _facts(hangup=False, hangup_how="")
    c = compare(then, _facts(hangup=False, hangup_how="", transfers=1, closed_by="bot"))
    assert sorted(d.what for d in c.required) == ["close", "transfer"]


def test_after_the_bots_hang_up_either_side_closing_first_is_reported_not_required() -> None:
    """Hung up then and now: who closed the stream first is a race, shown but not required."""
    c = compare(_facts(), _facts(closed_by="bot"))
    assert c.required == []
    (close,) = [d for d in c.differences if d.what == "close"]
    assert "either side may close first" in close.text


def test_a_written_scenario_expects_the_closer_only_when_the_bot_did_not_hang_up(
    tmp_path: Path,
) -> None:
    """No hang-up recorded: the bot closing the stream is an expectation; after one, a note."""
    archive = build_archive(tone(500), voice_api=[], closed_by="bot")
    archive.save(tmp_path / "call-1")
    plan = plan_replay(archive, timing="turns")
    text = scenario_text(archive, plan, facts_from_archive(archive), tmp_path / "s.yaml")
    assert {"ws_closed": {"by": "bot"}} in yaml.safe_load(text)["scenarios"][0]["expect"]
    hung_up = build_archive(tone(500), voice_api=[hangup_request(400)], closed_by="bot")
    hung_up.save(tmp_path / "call-2")
    text = scenario_text(hung_up, plan, facts_from_archive(hung_up), tmp_path / "s.yaml")
    assert "ws_closed" not in text
    assert "either side may close first" in text


def test_the_comparison_json_says_then_now_and_required() -> None:
    """comparison.json: schema 1, events then/now, each difference with required."""
    data = compare(_facts(), _facts(hangup=False)).to_dict()
    assert data["schema"] == 1 and data["ok"] is False and data["exit_code"] == 1
    assert {"event": "bot hangs up", "then": "yes", "now": "no"} in data["events"]
    assert data["differences"][0]["required"] is True


# -- the replay: caller action --------------------------------------------------------------


def _scenario(tmp_path: Path, action: str) -> Path:
    path = tmp_path / "incident.yaml"
    path.write_text(
        "scenarios:\n"
        "  - name: incident\n"
        "    caller:\n"
        f"      - {action}\n"
        "    expect:\n"
        "      - hangup_request: {}\n",
        encoding="utf-8",
    )
    return path


def test_a_replay_action_plans_the_archive_beside_the_scenario_file(tmp_path: Path) -> None:
    """replay: {archive: call, timing: turns} reads the archive relative to the file, at load."""
    caller = _cat(silence(500), tone(600), silence(1000), tone(600))
    build_archive(caller, [(100.0, tone(300, 300))]).save(tmp_path / "call")
    (scenario,) = load_scenarios([_scenario(tmp_path, "replay: {archive: call, timing: turns}")])
    (action,) = scenario.caller
    assert action.kind == "replay"
    assert action.archive == (tmp_path / "call").resolve()
    assert action.replay is not None and action.replay.timing == "turns"
    assert len(action.replay.turns) == 2
    assert action.describe() == "replay call (turns)"


def test_a_replay_of_a_missing_archive_is_a_scenario_error_with_file_and_line(
    tmp_path: Path,
) -> None:
    """A path that holds no archive names the scenario file, the line, and what is missing."""
    with pytest.raises(ScenarioError) as caught:
        load_scenarios([_scenario(tmp_path, "replay: nowhere")])
    text = str(caught.value)
    assert "incident.yaml" in text and ":4" in text
    assert "not a call archive: no archive.json there" in text


def test_a_replay_with_an_unknown_timing_is_a_scenario_error(tmp_path: Path) -> None:
    """timing: live is refused with the choices, before the archive is read."""
    with pytest.raises(
        ScenarioError, match=r"replay.timing must be one of \['recorded', 'turns'\]"
    ):
        load_scenarios([_scenario(tmp_path, "replay: {archive: call, timing: live}")])


def test_a_replay_of_a_broken_archive_names_the_archive_file_and_field(tmp_path: Path) -> None:
    """An archive of another schema: the scenario error carries the archive's own message."""
    build_archive(tone(300)).save(tmp_path / "call")
    head = tmp_path / "call" / "archive.json"
    head.write_text(head.read_text().replace('"schema": 1', '"schema": 9'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"archive.json: schema: schema 9 is not one"):
        load_scenarios([_scenario(tmp_path, "replay: call")])


def test_the_written_scenario_replays_the_archive_and_expects_what_the_bot_did(
    tmp_path: Path,
) -> None:
    """--write-scenario's text loads as a scenario: replay: step, numbers, recorded events."""
    body = initiate_body(uui="u-1")
    archive = build_archive(
        _cat(silence(600), tone(500), silence(1500)),
        [(100.0, tone(2000, 300))],
        clears=[800.0],
        body=body,
        voice_api=[hangup_request(2500)],
    )
    archive.save(tmp_path / "archives" / "call-1")
    file = tmp_path / "tests" / "incident.yaml"
    file.parent.mkdir()
    plan = plan_replay(archive, timing="turns")
    file.write_text(scenario_text(archive, plan, facts_from_archive(archive), file))
    (scenario,) = load_scenarios([file])
    assert scenario.caller[0].archive == (tmp_path / "archives" / "call-1").resolve()
    assert (scenario.call.from_, scenario.call.body) == ("+15550001111", {"uui": "u-1"})
    kinds = {(e.kind, e.absent) for e in scenario.expect}
    # No ws_closed: after the bot's hang-up, who closes the stream first is a race.
    assert kinds == {
        ("clear", False),
        ("hangup_request", False),
        ("transfer_request", True),
        ("violation", True),
    }
