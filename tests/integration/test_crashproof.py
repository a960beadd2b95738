"""No bot input takes ``bwsim run`` down: hostile answers are named failures, bounded in size.

The bot is ``tests.bots.hostile_bot`` (no Pipecat), which picks its attack by webhook
path; a scenario whose judging raises is shown through the runner in-process, with one
judge function monkeypatched, against ``tests.bots.raw_bot``.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from simulator.call.recorder import MAX_EVENTS_PER_KIND
from simulator.call.stream import MAX_QUEUED_PLAYOUT_MS
from simulator.cli.main import main
from simulator.judge.expect import judge_all as real_judge_all
from simulator.rest.journal import MAX_REQUESTS_PER_ROUTE, MAX_VIOLATIONS_PER_RULE
from tests.bots.hostile_bot import API_FLOOD, CLEAR_FLOOD, FLOOD_SECONDS, GARBAGE_FRAMES
from tests.integration.cli import bwsim

HOSTILE = ["--app", "tests.bots.hostile_bot:app"]


def _bwsim(*args: str) -> subprocess.CompletedProcess[str]:
    return bwsim("run", *args)


def _scenario(report_path: Path) -> dict[str, Any]:
    report = json.loads(report_path.read_text())
    (only,) = report["scenarios"]
    assert isinstance(only, dict)
    return only


def test_a_9000_deep_bxml_answer_is_a_named_failure_with_a_report(tmp_path: Path) -> None:
    """The 9,000-deep answer: report.json written, exit 1, the scenario failing on invalid-bxml."""
    suite = tmp_path / "deep.yaml"
    suite.write_text(
        'call: {webhook_path: "/deep-bxml", max_call_s: 20}\n'
        "allow_violations: [webhook-auth]\n"
        "scenarios:\n  - name: deep\n    expect: [{stream_accepted: {}}]\n"
    )
    out = tmp_path / "out"
    done = _bwsim(str(suite), *HOSTILE, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "RecursionError" not in done.stdout + done.stderr
    scenario = _scenario(out / "report.json")
    assert scenario["status"] == "failed"
    (violation,) = [v for v in scenario["evidence"]["violations"] if v["kind"] != "webhook-auth"]
    assert violation["kind"] == "invalid-bxml"
    assert violation["rule"] == "depth"
    assert violation["line"] == 2
    assert any("invalid-bxml" in p and "rule depth" in p for p in scenario["problems"])
    assert "FAIL deep/deep" in done.stdout


FLOOD_SUITE = """\
call: {webhook_path: "/flood", max_call_s: 30}
allow_violations: [webhook-auth]
scenarios:
  - name: flood
    caller: [{wait_for: ws_closed, within_ms: 20000}, hangup]
    expect: [{violation: {rule: playout-overflow}}]
"""


def test_a_playaudio_flood_is_capped_and_recorded_once(tmp_path: Path) -> None:
    """150 s of playAudio at once: the queue stops at 60 s, one playout-overflow names the drop."""
    suite = tmp_path / "flood.yaml"
    suite.write_text(FLOOD_SUITE)
    out = tmp_path / "out"
    done = _bwsim(str(suite), *HOSTILE, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    scenario = _scenario(out / "report.json")
    (stream,) = scenario["evidence"]["streams"]
    assert stream["play_audio_frames"] == FLOOD_SECONDS  # every frame was read ...
    assert stream["queued_max_ms"] <= MAX_QUEUED_PLAYOUT_MS  # ... but the queue stayed capped
    assert stream["overflow_dropped_ms"] > 0
    overflows = [
        v for v in scenario["evidence"]["violations"] if v.get("rule") == "playout-overflow"
    ]
    assert len(overflows) == 1
    assert "more than 60 s of audio" in overflows[0]["detail"]


def test_a_flood_fails_a_scenario_that_does_not_expect_it(tmp_path: Path) -> None:
    """Without the expectation, the playout-overflow violation fails the scenario by name."""
    suite = tmp_path / "flood.yaml"
    suite.write_text(FLOOD_SUITE.replace("{violation: {rule: playout-overflow}}", "{clear: {}}"))
    out = tmp_path / "out"
    done = _bwsim(str(suite), *HOSTILE, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    problems = _scenario(out / "report.json")["problems"]
    assert any("(media-playout-overflow)" in p for p in problems), problems


def test_violations_of_one_rule_are_capped_with_a_count_of_the_rest(tmp_path: Path) -> None:
    """50 frames that are not JSON: the first 20 violations kept, the other 30 counted."""
    suite = tmp_path / "garbage.yaml"
    suite.write_text(
        FLOOD_SUITE.replace("/flood", "/garbage").replace("playout-overflow", "bad-json")
    )
    out = tmp_path / "out"
    done = _bwsim(str(suite), *HOSTILE, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    evidence = _scenario(out / "report.json")["evidence"]
    kept = [v for v in evidence["violations"] if v["kind"] == "media-bad-json"]
    assert len(kept) == MAX_VIOLATIONS_PER_RULE
    assert evidence["violations_not_kept"] == {
        "media-bad-json": GARBAGE_FRAMES - MAX_VIOLATIONS_PER_RULE
    }
    summary = json.loads((out / "garbage" / "flood" / "summary.json").read_text())
    assert summary["violations_not_kept"] == evidence["violations_not_kept"]


def test_a_clear_flood_is_capped_and_cannot_hide_a_forbidden_clear(tmp_path: Path) -> None:
    """1,201 clears: 1,000 kept, the rest counted, and `absent` over the dropped ones fails."""
    suite = tmp_path / "clears.yaml"
    suite.write_text(
        FLOOD_SUITE.replace("/flood", "/clear-flood").replace(
            "{violation: {rule: playout-overflow}}",
            "{clear: {after: bot_audio_first, absent: true}}",
        )
    )
    out = tmp_path / "out"
    done = _bwsim(str(suite), *HOSTILE, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    scenario = _scenario(out / "report.json")
    not_kept = CLEAR_FLOOD + 1 - MAX_EVENTS_PER_KIND
    evidence = scenario["evidence"]
    assert evidence["timeline_events_not_kept"] == {"clear": not_kept}
    assert sum(e["type"] == "clear" for e in evidence["events"]) == MAX_EVENTS_PER_KIND
    (verdict,) = scenario["expectations"]
    assert not verdict["passed"]
    assert f"{not_kept} clear events from" in verdict["detail"]
    assert "cannot be shown" in verdict["detail"]
    summary = json.loads((out / "clears" / "flood" / "summary.json").read_text())
    assert summary["timeline_events_not_kept"] == {"clear": not_kept}
    timeline = json.loads((out / "clears" / "flood" / "timeline.json").read_text())
    notes = [e["detail"] for e in timeline if e["type"] == "note"]
    assert any("first 1,000 clear events" in n for n in notes), notes


API_FLOOD_SUITE = """\
call: {webhook_path: "/api-flood", max_call_s: 120}
allow_violations: [webhook-auth]
scenarios:
  - name: polls
    caller: [{wait_for: call_ended, within_ms: 110000}]
    expect:
      - hangup_request: {status: 200}
      - api_response: {route: get_call, max_count: 100000}
"""


def test_a_voice_api_flood_is_capped_per_route_and_counted_in_the_report(tmp_path: Path) -> None:
    """2,050 GETs of the call: 2,000 kept, 50 counted; the hang-up after them is still kept."""
    suite = tmp_path / "api.yaml"
    suite.write_text(API_FLOOD_SUITE)
    out = tmp_path / "out"
    done = _bwsim(str(suite), *HOSTILE, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    scenario = _scenario(out / "report.json")
    evidence = scenario["evidence"]
    not_kept = API_FLOOD - MAX_REQUESTS_PER_ROUTE
    assert evidence["api_requests_not_kept"] == {"get_call": not_kept}
    hangup, polled = scenario["expectations"]
    assert hangup["passed"], hangup["detail"]  # another route: never crowded out
    assert not polled["passed"]  # a count over requests that were not kept cannot pass
    assert f"{not_kept} get_call requests from" in polled["detail"]
    summary = json.loads((out / "api" / "polls" / "summary.json").read_text())
    assert summary["api_requests_not_kept"] == {"get_call": not_kept}
    assert summary["timeline_events_not_kept"]["api-request"] > 0


ERROR_SUITE = """\
call: {webhook_path: "/tone?keepalive=pause", max_call_s: 20}
allow_violations: [webhook-auth]
scenarios:
  - name: judged
    caller: [{wait_for: bot_speech_end}, hangup]
    expect: [{play_audio: {after: stream_accepted, within_ms: 5000}}]
  - name: judge raises
    caller: [{wait_for: bot_speech_end}, hangup]
    expect: [{ws_closed: {by: simulator}}]
"""


def test_a_scenario_that_raises_is_its_error_and_the_suite_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Judging one scenario raises: it is "error" with its traceback, the other passes, exit 2."""

    def judge_all(obs: Any, expectations: Any, **kw: Any) -> Any:
        if any(e.kind == "ws_closed" for e in expectations):
            raise RuntimeError("judge exploded on purpose")
        return real_judge_all(obs, expectations, **kw)

    monkeypatch.setattr("simulator.runner.suite.judge_all", judge_all)
    suite = tmp_path / "err.yaml"
    suite.write_text(ERROR_SUITE)
    out = tmp_path / "out"
    code = main(["run", str(suite), "--app", "tests.bots.raw_bot:app", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 2, printed.out + printed.err
    assert "ERROR err/judge-raises" in printed.out
    assert "1 scenario(s) could not be run" in printed.err

    report = json.loads((out / "report.json").read_text())
    assert report["summary"] == {
        "total": 2,
        "passed": 1,
        "failed": 0,
        "unreliable": 0,
        "skipped": 0,
        "error": 1,
    }
    judged, raised = report["scenarios"]
    assert judged["status"] == "passed"
    assert raised["status"] == "error"
    assert raised["error"]["type"] == "RuntimeError"
    assert raised["error"]["message"] == "judge exploded on purpose"
    traceback = Path(raised["artifacts"]["traceback"]).read_text()
    assert "RuntimeError: judge exploded on purpose" in traceback
    assert traceback.startswith(f"{suite}:")

    junit = ET.parse(out / "junit.xml").getroot()
    (error,) = junit.findall(".//testcase/error")
    assert error.get("type") == "RuntimeError"
