"""A missed time budget is re-run once; missed twice on a loaded machine it is unreliable.

The runner's policy is pure logic over a check's verdicts and the machine's load, so the
check is a scripted coroutine and the load a stand-in for ``os.getloadavg``.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from simulator.audit import runner
from simulator.audit.catalog import CheckSpec
from simulator.audit.config import AuditConfig
from simulator.audit.model import Verdict, missed, passed


def _load(per_cpu: float) -> dict[str, float]:
    return {"load_1m": per_cpu * 2, "load_5m": per_cpu * 2, "load_15m": 0.0, "cpus": 2.0}


class _Ctx(SimpleNamespace):
    def forget_shared(self) -> None:
        self.forgotten += 1


def _spec(verdicts: Iterator[Verdict]) -> CheckSpec:
    async def run(_ctx: Any) -> Verdict:
        return next(verdicts)

    return CheckSpec("area.timed", "a timed check", run)


async def _run(verdicts: list[Verdict], per_cpu: float, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runner, "machine_load", lambda: _load(per_cpu))
    ctx = _Ctx(config=AuditConfig(), forgotten=0)
    result = await runner._run_one(ctx, _spec(iter(verdicts)))  # type: ignore[arg-type]
    return result, ctx


async def test_a_budget_missed_once_then_met_passes_and_keeps_the_first_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The re-run decides; the first attempt's detail and load stay in the evidence."""
    result, ctx = await _run([missed("slow"), passed("fine")], 3.0, monkeypatch)
    assert result.status == "passed"
    assert result.verdict.evidence["first_attempt"]["detail"] == "slow"
    assert ctx.forgotten == 1
    assert result.load["load_per_cpu"] == 3.0


async def test_a_budget_missed_twice_under_load_is_unreliable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Missed twice with more runnable processes than CPUs: unreliable, naming the load."""
    result, _ = await _run([missed("slow"), missed("slower")], 3.0, monkeypatch)
    assert result.status == "unreliable"
    assert "loaded (3 runnable processes per CPU, 2 CPUs)" in result.verdict.detail
    assert result.verdict.detail.endswith("Last attempt: slower")


async def test_a_budget_missed_twice_on_a_quiet_machine_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a quiet machine the second miss is the bot's: failed, with its own detail."""
    result, _ = await _run([missed("slow"), missed("slower")], 0.2, monkeypatch)
    assert result.status == "failed"
    assert result.verdict.detail == "slower"


async def test_a_plain_failure_is_not_re_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a missed budget is re-run: a finding of another kind stands at once."""
    result, ctx = await _run([Verdict("failed", "wrong")], 3.0, monkeypatch)
    assert result.status == "failed"
    assert ctx.forgotten == 0


async def test_a_budget_missed_twice_by_far_fails_even_under_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twice as late as allowed on both attempts is the bot's, however loaded the machine."""
    result, _ = await _run([missed("late", over=1.7), missed("later", over=2.0)], 3.0, monkeypatch)
    assert result.status == "failed"
    assert result.verdict.detail == "later"
