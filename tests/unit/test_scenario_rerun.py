"""A scenario that failed only on late budgets is run once more; twice late under load it is unsure.

The policy is pure logic over two attempts' results and the machine's load, so each
attempt is a scripted coroutine and the load a stand-in for ``os.getloadavg``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from simulator.judge.observation import Verdict
from simulator.judge.scenario import Scenario, parse_scenarios
from simulator.report.run_report import console_table, suite_json, write_junit
from simulator.runner import rerun
from simulator.runner.suite import ScenarioResult, SuiteResult

(SCENARIO,) = parse_scenarios(
    "scenarios:\n  - name: reply\n    expect:\n      - play_audio: {within_ms: 1000}\n",
    Path("t.yaml"),
    load_audio=lambda p, n: np.zeros(1, dtype=np.int16),
)
assert isinstance(SCENARIO, Scenario)
(EXPECTATION,) = SCENARIO.expect


def late(over: float) -> ScenarioResult:
    """A failed attempt whose one expectation came ``over`` times its budget."""
    verdict = Verdict(EXPECTATION, False, f"late by {over}", over=over)
    return ScenarioResult(SCENARIO, "failed", f"late by {over}", verdicts=[verdict])


def met() -> ScenarioResult:
    """A passed attempt."""
    return ScenarioResult(SCENARIO, "passed", "all 1 expectations met.")


async def settle(
    attempts: list[ScenarioResult], per_cpu: float, monkeypatch: pytest.MonkeyPatch
) -> tuple[ScenarioResult, int]:
    """Run the policy over scripted attempts on a machine loaded ``per_cpu``; (result, runs)."""
    load = {"load_1m": per_cpu * 2, "load_5m": per_cpu * 2, "load_15m": 0.0, "cpus": 2.0}
    monkeypatch.setattr(rerun, "machine_load", lambda: load)
    scripted: Iterator[ScenarioResult] = iter(attempts)
    runs = 0

    async def attempt() -> ScenarioResult:
        nonlocal runs
        runs += 1
        return next(scripted)

    return await rerun.rerun_late(attempt), runs


async def test_late_once_then_met_passes_and_keeps_the_first_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second run decides; the first one's reason and load stay in the result."""
    result, runs = await settle([late(1.2), met()], 3.0, monkeypatch)
    assert (result.status, runs) == ("passed", 2)
    assert result.first_attempt is not None
    assert result.first_attempt["detail"] == "late by 1.2"
    assert result.first_attempt["load"]["load_per_cpu"] == 3.0
    assert "on a second run: the first missed a time budget" in result.detail


async def test_late_twice_near_the_budget_on_a_loaded_machine_is_unreliable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twice late, near the budget, at 3 runnable processes per CPU: unsure, naming the load."""
    result, _ = await settle([late(1.2), late(1.4)], 3.0, monkeypatch)
    assert result.status == "unreliable"
    assert "loaded (3 runnable processes per CPU, 2 CPUs)" in result.detail
    assert result.detail.endswith("Last attempt: late by 1.4")


async def test_late_twice_on_a_quiet_machine_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a quiet machine the second late reply is the bot's: failed, its own reason."""
    result, _ = await settle([late(1.2), late(1.4)], 0.2, monkeypatch)
    assert (result.status, result.detail) == ("failed", "late by 1.4")


async def test_far_over_the_budget_twice_fails_even_under_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three times the budget, twice: no load explains it, so it stands as failed."""
    result, _ = await settle([late(3.0), late(3.2)], 3.0, monkeypatch)
    assert result.status == "failed"


async def test_a_failure_that_is_not_a_late_budget_is_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A problem besides the late budget (a violation, a dead bot) fails at once."""
    violated = late(1.2)
    violated.problems.append("the bot broke a rule (bad-json): not JSON")
    never = ScenarioResult(
        SCENARIO, "failed", "no", verdicts=[Verdict(EXPECTATION, False, "no play audio")]
    )
    for first in (violated, never):
        result, runs = await settle([first, met()], 3.0, monkeypatch)
        assert (result.status, runs) == ("failed", 1)


def test_an_unreliable_scenario_is_reported_unsure_not_failed(tmp_path: Path) -> None:
    """The table, the JSON summary and JUnit name it unsure; the run still counts as passed."""
    unsure = late(1.2)
    unsure.status, unsure.detail = "unreliable", "missed a time budget twice"
    suite = SuiteResult([unsure, met()], "bot", datetime.now(UTC), 1.0)
    assert suite.passed
    assert suite_json(suite)["summary"]["unreliable"] == 1
    table = console_table(suite, width=200)
    assert "UNSURE" in table
    assert "1 passed, 0 failed, 1 unsure" in table
    junit = write_junit(suite, tmp_path / "junit.xml").read_text()
    assert 'skipped message="unreliable: missed a time budget twice"' in junit
