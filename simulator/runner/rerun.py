"""A scenario that failed only on missed time budgets is run once more before it stands.

A scenario's ``within_ms`` budgets (a reply within 4,000 ms, a ``clear`` within 1,500 ms)
are judged on the machine bwsim runs on, and on a loaded machine a correct bot can miss
one. A scenario whose every failed expectation is a budget the awaited thing missed by
arriving late (:attr:`~simulator.judge.observation.Verdict.over`), with nothing else wrong
with the call, is run again with a fresh call; the second attempt decides, as
:mod:`simulator.runner.machine` says:

- it passes: ``passed``, the first attempt kept in the report;
- it fails again only on late budgets while the machine was loaded in either attempt, by
  no more than 1.5 times a budget in one of them: ``unreliable`` (not the bot's failure;
  ``bwsim run --strict`` fails the run on it);
- otherwise: ``failed``, with the second attempt's reasons.

A budget nobody met at all (no ``clear`` in the whole call), a wrong occurrence, a
violation, a dead bot: those are what the bot did, and fail at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from simulator.runner.machine import describe_load, load_span, machine_load, untrusted_miss
from simulator.runner.scenario_result import ScenarioResult

__all__ = ["late_budgets", "rerun_late"]


def late_budgets(r: ScenarioResult) -> list[float] | None:
    """How late each failed expectation came (over its budget), if that is all that failed."""
    if r.status != "failed" or r.problems or r.bot_exited:
        return None
    failed = [v for v in r.verdicts if not v.passed]
    overs = [v.over for v in failed]
    if not failed or any(o is None for o in overs):
        return None
    return [o for o in overs if o is not None]


async def _measured(attempt: Callable[[], Awaitable[ScenarioResult]]) -> ScenarioResult:
    before = machine_load()
    r = await attempt()
    r.load = load_span(before, machine_load())
    return r


async def rerun_late(attempt: Callable[[], Awaitable[ScenarioResult]]) -> ScenarioResult:
    """Run ``attempt``; a failure that is only late budgets runs it once more (module doc)."""
    first = await _measured(attempt)
    overs = late_budgets(first)
    if overs is None:
        return first
    second = await _measured(attempt)
    second.first_attempt = {
        "detail": first.detail,
        "load": first.load,
        "over_budget": [round(o, 2) for o in overs],
        "duration_ms": round(first.duration_ms, 1),
    }
    again = late_budgets(second)
    loads = [first.load, second.load]
    if second.status == "passed":
        second.detail += (
            f" (on a second run: the first missed a time budget at "
            f"{describe_load(loads[:1])}: {first.detail})"
        )
    elif again is not None and untrusted_miss([max(overs), max(again)], loads):
        second.status = "unreliable"
        second.detail = (
            f"missed a time budget twice while the machine was loaded ({describe_load(loads)}), "
            "so bwsim cannot tell a slow bot from a slow machine: not counted as the bot's "
            "failure; run it again on a quieter machine or with a lower --concurrency. Last "
            f"attempt: {second.detail}"
        )
    return second
