"""``fuzz.start_metadata``: finds a flaw by generated input, shrinks it, writes its replay.

``nox -s fuzz`` runs the reference-bot test with the fuzz profile's example count
(``HYPOTHESIS_PROFILE=fuzz``, tests/conftest.py); each example is a live socket with a
genuine token. The flawed-bot test runs the speaker bot that takes its ids from the
``start`` frame with a fixed seed, and replays the written scenario with ``bwsim run``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from simulator.audit import run_audit
from simulator.runner.targets import AppTarget
from tests.integration.audit_helpers import ENV, FAST, REFERENCE, SPEAKER

EXAMPLES = settings().max_examples


@pytest.mark.fuzz
@pytest.mark.timeout(120 + 3 * EXAMPLES)
async def test_generated_start_frames_never_touch_another_call(tmp_path: Path) -> None:
    """The profile's count of start sequences: no foreign request, no 1011, the bot stays up."""
    config = replace(FAST, only=("fuzz.start_metadata",), fuzz_examples=EXAMPLES, fuzz_out=tmp_path)
    report = await run_audit(AppTarget(REFERENCE), config, bot_env=ENV)
    result = report.result("fuzz.start_metadata")
    assert result.status == "passed", result.verdict.detail
    evidence = result.verdict.evidence
    assert evidence["examples_run"] >= EXAMPLES
    print(  # shown by `nox -s fuzz` (-rP): this target's count beside hypothesis's own
        f"fuzz.start_metadata: seed {evidence['seed']}, {evidence['examples_run']} examples "
        f"({EXAMPLES} generated + pinned), outcomes {evidence['outcomes']}"
    )
    assert f"seed {evidence['seed']}" in result.verdict.detail
    assert not _files(tmp_path), "a passing run writes no replay scenario"


@pytest.mark.timeout(300)
async def test_a_bot_trusting_start_ids_is_caught_by_generated_input_and_replayed(
    tmp_path: Path,
) -> None:
    """The start-ids bot fails on a generated example; its written scenario fails the same way."""
    config = replace(
        FAST, only=("fuzz.start_metadata",), fuzz_examples=60, fuzz_seed=1234, fuzz_out=tmp_path
    )
    env = {**ENV, "SPEAKER_FLAW": "start-ids"}
    report = await run_audit(AppTarget(SPEAKER), config, bot_env=env)
    result = report.result("fuzz.start_metadata")
    evidence = result.verdict.evidence
    assert result.status == "failed", result.verdict.detail
    assert evidence["seed"] == 1234
    assert "seed 1234" in result.verdict.detail
    assert "--fuzz-seed 1234" in result.verdict.detail
    generated = [f for f in evidence["failing_examples"] if f["source"] == "generated"]
    assert generated, (evidence["outcomes"], evidence["failing_examples"])
    # The verdict names one generated example (a request over a crash, the lowest number)
    # and that example's requests are tied to it.
    (named,) = [
        f
        for f in generated
        if f"the generated example {f['example']} (shrunk)" in result.verdict.detail
    ]
    assert "request(s) for other calls" in named["problems"][0], named
    assert all(r["example"] == named["example"] for r in named["foreign_requests"])

    written = Path(evidence["scenario"])
    assert written.parent == tmp_path
    done = _replay(written, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    # The same reason as the audit's: the bot's request about the forged (victim) call.
    assert "no api_response (call=victim): POST" in done.stdout, done.stdout


@pytest.mark.timeout(300)
async def test_a_bot_taking_only_account_id_from_start_fails_naming_the_forged_account(
    tmp_path: Path,
) -> None:
    """A request for its own call under the start frame's forged account fails the check."""
    config = replace(FAST, only=("fuzz.start_metadata",), fuzz_examples=4, fuzz_out=tmp_path)
    report = await run_audit(
        AppTarget("tests.bots.audit_bots:trusts_start_account"), config, bot_env=ENV
    )
    result = report.result("fuzz.start_metadata")
    assert result.status == "failed", result.verdict.detail
    requests = [
        r for f in result.verdict.evidence["failing_examples"] for r in f["foreign_requests"]
    ]
    assert requests, result.verdict.evidence["failing_examples"]
    forged = requests[0]
    # 403: the fake refuses the bot's token (of its own account) for the forged account.
    assert forged["status"] == 403, forged
    assert f"/accounts/{forged['account_id']}/calls/" in result.verdict.detail


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def _replay(written: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``bwsim run`` the written scenario against the same flawed bot."""
    scenario = yaml.safe_load(written.read_text(encoding="utf-8"))["scenarios"][0]
    assert "${victim.callId}" in str(scenario["call"]["start_metadata"])
    # The flaw is the bot's setting: the replay file is run as written, with the bot's
    # environment given as a file default above it.
    replay = tmp_path / "replay.yaml"
    replay.write_text(
        "bot_env: {SPEAKER_FLAW: start-ids}\n" + written.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "simulator.cli.main", "run", str(replay), "--app", SPEAKER]
    return subprocess.run(
        [*command, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
