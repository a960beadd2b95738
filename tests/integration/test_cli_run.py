"""``bwsim run``: exit codes, reports and artifacts, and bad files refused before any call.

The bot is ``tests.bots.raw_bot`` (no Pipecat: it starts in well under a second), whose
behaviour is picked by the webhook path: ``/tone`` plays a second of tone and listens.
It does not check webhook credentials, which bwsim reports as a ``webhook-auth``
violation; the suite allows that one rule, so the rest of the run is what is tested.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.bots.raw_bot import LATE_TONE_S
from tests.integration.cli import bwsim

BOT = ["--app", "tests.bots.raw_bot:app"]

SUITE = """\
call: {webhook_path: "/tone?keepalive=pause", max_call_s: 20}
allow_violations: [webhook-auth]
scenarios:
  - name: tone is heard
    caller:
      - wait_for: bot_speech_end
      - hangup
    expect:
      - play_audio: {after: stream_accepted, encoding: pcmu}
      - ws_closed: {code: 1000, by: simulator}
  - name: clear is expected
    caller:
      - wait_for: bot_speech_end
      - hangup
    expect:
      - clear: {within_ms: 3000}
"""


def _bwsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return bwsim("run", *args, cwd=cwd)


def test_a_run_reports_each_scenario_and_fails_when_one_fails(tmp_path: Path) -> None:
    """Exit 1 when a scenario fails; the JSON, JUnit and per-call artifacts are all written."""
    suite = tmp_path / "tones.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    done = _bwsim(str(suite), *BOT, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PASS tones/tone-is-heard" in done.stdout
    assert "FAIL tones/clear-is-expected" in done.stdout
    assert "no clear within 3,000 ms" in done.stdout  # the reason, in the table

    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == 1
    assert report["summary"] == {
        "total": 2,
        "passed": 1,
        "failed": 1,
        "unreliable": 0,
        "skipped": 0,
        "error": 0,
    }
    heard, cleared = report["scenarios"]
    assert (heard["id"], heard["passed"], cleared["passed"]) == ("tones/tone-is-heard", True, False)
    assert cleared["detail"].startswith("no clear within 3,000 ms")
    assert [e["passed"] for e in heard["expectations"]] == [True, True]
    assert heard["evidence"]["streams"][0]["content_types"] == ["audio/pcmu"]
    assert heard["timings"]["first_audio_ms"] is not None

    junit = ET.parse(out / "junit.xml").getroot()
    cases = junit.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["tone is heard", "clear is expected"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "no clear" in (failure.get("message") or "")

    artifacts = out / "tones" / "tone-is-heard"
    for name in ("call.wav", "trace.jsonl", "timeline.json", "summary.json"):
        assert (artifacts / name).stat().st_size > 0, name
    assert (artifacts / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_violation_not_allowed_fails_the_scenario(tmp_path: Path) -> None:
    """Without allow_violations, the bot's unauthenticated webhook fails the scenario."""
    suite = tmp_path / "tones.yaml"
    suite.write_text(SUITE.replace("allow_violations: [webhook-auth]\n", ""))
    done = _bwsim(str(suite), *BOT, "-k", "heard", "--out", str(tmp_path / "o"))
    assert done.returncode == 1
    assert "the bot broke a rule (webhook-auth)" in done.stdout


def test_a_passing_run_exits_0(tmp_path: Path) -> None:
    """Exit 0 when every scenario passes (here: -k picks the one that does)."""
    suite = tmp_path / "tones.yaml"
    suite.write_text(SUITE)
    done = _bwsim(str(suite), *BOT, "-k", "heard", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 0 failed, 0 skipped" in done.stdout


def test_instances_deal_the_scenarios_out_among_several_copies_of_the_bot(tmp_path: Path) -> None:
    """--instances 2 starts two copies; each scenario's call is taken by one, both are used."""
    suite = tmp_path / "tones.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    done = _bwsim(str(suite), *BOT, "-k", "heard", "--instances", "2", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr  # one scenario: one copy is enough
    suite.write_text(SUITE.replace("clear: {within_ms: 3000}", "ws_closed: {by: simulator}"))
    done = _bwsim(str(suite), *BOT, "--instances", "2", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 instances of each, 8 calls at once" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["target"].endswith("(2 instances)")
    bots = {s["bot"] for s in report["scenarios"]}
    assert len(bots) == 2 and all(b.startswith("http://127.0.0.1:") for b in bots), bots


def test_instances_with_a_url_bot_is_exit_2(tmp_path: Path) -> None:
    """A --url bot cannot be copied: --instances 2 is exit 2, saying what to use instead."""
    suite = tmp_path / "tones.yaml"
    suite.write_text(SUITE)
    done = _bwsim(str(suite), "--url", "http://127.0.0.1:9", "--instances", "2")
    assert done.returncode == 2
    assert "--instances 2 needs a bot bwsim starts" in done.stderr


def test_a_typo_is_exit_2_naming_file_line_and_key_before_any_bot_starts(tmp_path: Path) -> None:
    """A misspelt key stops the run at once: exit 2, file:line: key, and no bot is started."""
    suite = tmp_path / "bad.yaml"
    suite.write_text(SUITE.replace("    expect:\n      - clear", "    expct:\n      - clear"))
    marker = tmp_path / "started"
    done = _bwsim(str(suite), "--cmd", f"touch {marker}; sleep 30")
    assert done.returncode == 2
    assert f"{suite}:15: expct: unknown key 'expct'" in done.stderr
    assert "did you mean 'expect'" in done.stderr
    assert not marker.exists()


def test_a_missing_audio_file_is_exit_2_naming_it(tmp_path: Path) -> None:
    """A say whose file is missing stops the run before any call, naming file and line."""
    suite = tmp_path / "audio.yaml"
    steps = "      - wait_for: bot_speech_end\n      - hangup\n"
    text = SUITE.replace(steps, "      - say: gone.wav\n")
    suite.write_text(text)
    marker = tmp_path / "started"
    done = _bwsim(str(suite), "--cmd", f"touch {marker}; sleep 30")
    assert done.returncode == 2
    assert f"{suite}:6: say: no such file" in done.stderr
    assert "gone.wav" in done.stderr
    assert not marker.exists()


def test_a_bot_that_does_not_start_is_exit_2(tmp_path: Path) -> None:
    """A target that exits before listening is exit 2 with its output quoted."""
    suite = tmp_path / "tones.yaml"
    suite.write_text(SUITE)
    done = _bwsim(str(suite), "--cmd", "echo no such bot; exit 3")
    assert done.returncode == 2
    assert "exited with code 3" in done.stderr
    assert "no such bot" in done.stderr


def test_scenarios_needing_their_own_bot_are_skipped_for_a_url_target(tmp_path: Path) -> None:
    """A --url bot cannot be restarted with bot_env: those scenarios are skipped, not passed."""
    suite = tmp_path / "env.yaml"
    suite.write_text(
        "bot_env: {BOT_TOKEN_TTL_S: '1'}\nscenarios:\n  - name: a\n    expect: [clear]\n"
    )
    done = _bwsim(str(suite), "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "o"))
    assert done.returncode == 1  # nothing ran: not a pass
    assert "SKIP env/a" in done.stdout
    assert "needs the bot started with BOT_TOKEN_TTL_S=1" in done.stdout


CRASH_SUITE = """\
call: {webhook_path: "/tone?keepalive=pause", max_call_s: 20}
allow_violations: [webhook-auth]
scenarios:
  - name: first
    caller: [{wait_for: bot_speech_end}, hangup]
    expect: [{play_audio: {after: stream_accepted}}]
  - name: second
    caller: [{wait_for: bot_speech_end}, hangup]
    expect: [{play_audio: {after: stream_accepted}}]
  - name: third
    caller: [{wait_for: bot_speech_end}, hangup]
    expect: [{play_audio: {after: stream_accepted}}]
"""


def test_a_bot_that_dies_mid_suite_is_named_with_its_exit_and_log(tmp_path: Path) -> None:
    """A bot dying on call 2: that scenario names the exit and log tail, the next fails fast."""
    from tests.bots.crash_bot import LAST_WORDS

    suite = tmp_path / "crash.yaml"
    suite.write_text(CRASH_SUITE)
    out = tmp_path / "out"
    bot = ["--app", "tests.bots.crash_bot:app", "--concurrency", "1"]  # one call at a time
    done = _bwsim(str(suite), *bot, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    log = out / "bots" / "1-app-tests-bots-crash-bot-app.log"
    assert LAST_WORDS in log.read_text()

    exited = "the bot (--app tests.bots.crash_bot:app) exited with code 1 during this call"
    assert "PASS crash/first" in done.stdout
    assert "FAIL crash/second  " in done.stdout
    assert exited in done.stdout
    assert LAST_WORDS in done.stdout  # the log's tail, in the output
    assert "FAIL crash/third  0.0 s  the bot exited earlier (" in done.stdout
    assert f"full log: {log}" in done.stdout
    assert f"bot logs in {out / 'bots'}/" in done.stdout

    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == 1
    (record,) = report["bots"]
    assert record["log"] == str(log)
    assert record["exit_code"] == 1
    assert (record["exited_during"], record["not_run"]) == (["crash/second"], ["crash/third"])
    first, second, third = report["scenarios"]
    assert first["passed"] and first["bot_log"] == str(log)
    assert second["detail"].startswith(exited)
    assert LAST_WORDS in second["detail"] and f"full log: {log}" in second["detail"]
    assert third["detail"].startswith("the bot exited earlier (--app tests.bots.crash_bot:app ")
    assert third["evidence"] == {}  # no call was placed


def test_a_reply_late_by_far_more_than_the_budget_is_run_again_then_fails(tmp_path: Path) -> None:
    """Late twice by 3x its budget: re-run once (both calls placed), then failed, not unsure."""
    suite = tmp_path / "late.yaml"
    budget_ms = int(LATE_TONE_S * 1000 / 3)  # the bot is at least 3 times over, however fast
    suite.write_text(
        'call: {webhook_path: "/late-tone?keepalive=pause", max_call_s: 20}\n'
        "allow_violations: [webhook-auth]\n"
        "scenarios:\n  - name: late\n    caller: [{wait_for: bot_speech_end}, hangup]\n"
        f"    expect: [{{play_audio: {{after: stream_accepted, within_ms: {budget_ms}}}}}]\n"
    )
    out = tmp_path / "out"
    done = _bwsim(str(suite), *BOT, "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    (late,) = json.loads((out / "report.json").read_text())["scenarios"]
    assert late["status"] == "failed"
    assert "over the budget within 100 ms" in late["detail"]
    first = late["first_attempt"]
    assert "over the budget" in first["detail"]
    assert min(first["over_budget"]) >= 3
    assert late["expectations"][0]["over_budget"] >= 3
    assert set(late["load"]) >= {"load_per_cpu", "cpus"}
