"""Verdicts a user can believe: the guide's bot fails only its true finding, spoofs are caught.

- The bot built straight from Bandwidth's guide (``tests/bots/guide_bot.py``) fails
  exactly ``hangup.on_stream_loss``; its hardening gaps are listed as warnings.
- A request is about the trusted call only when both its account and its call are: a bot
  that takes only ``accountId`` from ``start`` fails ``spoof.start_ids`` for the request
  it sent to the forged account, though the fake refused it.
- A check that saw nothing does not pass: a bot whose only Voice API request is its
  serializer's hang-up leaves both spoofing checks inconclusive; with ``--slow`` (the
  bot's idle timeout ends its pipeline on a live socket) ``spoof.start_ids`` fails it,
  the forged call hung up, and ``spoof.interleaved_webhooks`` fails a bot whose
  serializer gets the last webhook's ids, the interleaved call hung up (that correct bots
  pass it, their silent call hung up, is in ``test_audit.py``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.audit_helpers import IDLE_S, audit, explain

pytestmark = pytest.mark.timeout(240)

GUIDE = "tests.bots.guide_bot:app"
ACCOUNT_ONLY = "tests.bots.audit_bots:trusts_start_account"
START_IDS = "tests.bots.start_ids_bot:app"
LAST_WEBHOOK = "tests.bots.start_ids_bot:last_webhook_app"
INTERLEAVED = "spoof.interleaved_webhooks"


async def test_the_guides_bot_fails_only_hangup_on_stream_loss_and_lists_its_warnings() -> None:
    """Every check runs; the one failure is the orphaned leg, bad bodies are warnings."""
    report = await audit(GUIDE)
    assert report.ids("failed") == ["hangup.on_stream_loss"], explain(report)
    assert "orphaned leg" in report.result("hangup.on_stream_loss").verdict.detail
    assert report.ids("error") == [], explain(report)
    bad_body = report.result("webhook.bad_body")
    assert bad_body.status == "warned", explain(report)
    assert bad_body.verdict.detail.startswith("a body that is not JSON made the bot answer 500")
    assert "hardening" in bad_body.verdict.detail
    assert report.exit_code == 1
    startup = report.result("webhook.creds_unset").verdict.evidence["copy_startup"]
    assert startup["first_http_answer_after_s"] >= startup["listening_after_s"] > 0
    for result in report.results:
        if result.status != "skipped":  # a skipped check never ran
            assert {"load_1m_start", "cpus", "load_per_cpu"} <= result.load.keys(), result.id


async def test_a_bot_taking_only_the_account_from_start_fails_for_its_request_there() -> None:
    """Its own call id under the forged account is the spoof, refused (403) or not."""
    report = await audit(ACCOUNT_ONLY, "spoof.start_ids")
    result = report.result("spoof.start_ids")
    assert result.status == "failed", explain(report)
    assert re.search(
        r"went to account \d+ \(the forged one\), not the bot's own call's account",
        result.verdict.detail,
    ), result.verdict.detail
    foreign = result.verdict.evidence["foreign_requests"]
    assert foreign
    assert all(f["call_id"] not in {c["victim"] for c in result.verdict.evidence["calls"]}
               for f in foreign)  # fmt: skip
    assert {f["status"] for f in foreign} == {403}


async def test_a_bot_whose_only_request_is_the_serializers_hang_up_is_not_passed() -> None:
    """Without --slow nothing makes it act: both spoof checks inconclusive, naming --slow."""
    # The bot only plays a tone: all ten calls at once (they just wait out their budgets).
    # It never acts, however long a talking caller waits for it, so the wait (the transfer
    # budget, 20 s by default) is cut to 2 s: the verdict is the same, the calls shorter.
    report = await audit(
        START_IDS, "spoof.start_ids", INTERLEAVED, max_calls=10, config={"transfer_budget_s": 2.0}
    )
    result = report.result("spoof.start_ids")
    assert result.status == "inconclusive", explain(report)
    assert "made no Voice API request at all" in result.verdict.detail
    assert "run with --slow (silent forged calls until" in result.verdict.detail
    interleaved = report.result(INTERLEAVED)
    assert interleaved.status == "inconclusive", explain(report)
    assert re.search(
        r"in 2 calls whose webhook was followed by another call's .* the bot made no Voice "
        r"API request at all .* run with --slow \(a silent call until the bot's idle timeout",
        interleaved.verdict.detail,
    ), interleaved.verdict.detail
    assert report.exit_code == 0
    assert report.ids("inconclusive") == ["spoof.start_ids", INTERLEAVED]


async def test_slow_lets_the_idle_timeout_end_the_pipeline_and_the_forged_call_is_hung_up() -> None:
    """With --slow the silent forged calls reach the idle timeout; its hang-up hits a victim."""
    report = await audit(
        START_IDS, "spoof.start_ids", slow=True, env={"EXAMPLE_IDLE_S": str(IDLE_S)}
    )
    result = report.result("spoof.start_ids")
    assert result.status == "failed", explain(report)
    assert re.search(r"POST \S+/calls/\S+ \(HTTP 200\) went to the victim", result.verdict.detail)
    silent = [
        c for c in result.verdict.evidence["calls"] if c["caller_said"].startswith("(nothing")
    ]
    assert len(silent) == 2
    # Each silent call's idle-timeout hang-up named its victim (refused, 403, when the
    # victim is in an account the bot has no credentials for).
    for call in silent:
        hangups = [r for r in call["victim_requests"] if r["route"] == "update_call"]
        assert hangups, call
        assert "completed" in hangups[0]["body"]


async def test_slow_catches_a_serializer_holding_the_last_webhooks_ids_by_its_hang_up() -> None:
    """With --slow the silent call's idle-timeout hang-up names the interleaved call: failed."""
    report = await audit(LAST_WEBHOOK, INTERLEAVED, slow=True, env={"EXAMPLE_IDLE_S": str(IDLE_S)})
    result = report.result(INTERLEAVED)
    assert result.status == "failed", explain(report)
    assert re.search(
        r"POST \S+/calls/\S+ \(HTTP 200\) went to the call whose webhook came in between",
        result.verdict.detail,
    ), result.verdict.detail
    calls = result.verdict.evidence["calls"]
    assert len(calls) == 3
    assert calls[2]["caller_said"].startswith("(nothing")
    # The bot has no tools: its requests are serializer hang-ups at its idle timeout (with
    # the tests' short one, the talking calls reach it too), all naming the interleaved call.
    assert [c["actions"] for c in calls] == [[], [], []]
    hangups = [r for r in calls[0]["victim_requests"] if r["route"] == "update_call"]
    assert hangups
    assert "completed" in hangups[0]["body"]
    assert hangups[0]["status"] == 200


@pytest.mark.parametrize(("strict", "code"), [([], 0), (["--strict"], 1)], ids=["plain", "strict"])
def test_a_warning_exits_0_and_1_only_under_strict(
    strict: list[str], code: int, tmp_path: Path
) -> None:
    """On the command line a warning is listed by id; only --strict turns it into exit 1."""
    out = tmp_path / "audit.json"
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", "audit", "--app", GUIDE,
         "--only", "webhook.bad_body", "--json", str(out), *strict],
        capture_output=True, text=True, timeout=100, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == code, done.stdout + done.stderr
    assert "WARN    webhook.bad_body" in done.stdout
    assert "bwsim audit: warnings (hardening beyond the contract" in done.stdout
    doc = json.loads(out.read_text())
    assert (doc["exit_code"], doc["strict"], doc["summary"]["warned"]) == (code, bool(strict), 1)
