"""Whether a finished call passed: the one list of what went wrong with it.

``bwsim call``, ``bwsim serve``, ``bwsim load`` and scenario runs all judge a call by
:func:`call_problems`: an empty list is a pass. What each counts differs, and the
arguments say how:

- every command counts the call's errors and the rules the bot broke (journal and media
  violations), and the webhook error when the webhook was not delivered as Bandwidth
  expects;
- a scenario leaves out the violations and the webhook error its own expectations
  already judge (``covered``, ``webhook=False``) and counts invalid BXML (``bxml``);
- ``bwsim load`` also counts a call whose webhook was delivered but whose media stream
  never opened (``stream``) and the conversational failures of the call's metrics
  (``metrics``).

``style`` keeps each command's wording and order: ``"cli"`` puts the webhook first and
names a violation ``kind: detail``; ``"scenario"`` puts the call's errors first and says
``the bot broke a rule (kind): detail``. Pure: it reads the result, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from simulator.call.result import CallResult
    from simulator.rest.journal import Violation

__all__ = ["ProblemStyle", "call_problems"]

ProblemStyle = Literal["cli", "scenario"]


def _uncovered(_violation: Violation) -> bool:
    return False


def call_problems(
    result: CallResult,
    *,
    style: ProblemStyle = "cli",
    covered: Callable[[Violation], bool] = _uncovered,
    webhook: bool = True,
    bxml: bool = False,
    stream: bool = False,
    metrics: bool = False,
) -> list[str]:
    """What went wrong with the call, one sentence each; empty when it passed."""
    exchange = result.exchange
    webhook_error = exchange.error if webhook and exchange is not None else None
    if style == "scenario":
        problems = list(result.errors)
        problems += [
            f"the bot broke a rule ({v.kind}): {v.detail}"
            for v in result.violations
            if not covered(v)
        ]
        if webhook_error:
            problems.append(f"webhook: {webhook_error}")
    else:
        problems = [f"webhook: {webhook_error}"] if webhook_error else []
        problems += [f"{v.kind}: {v.detail}" for v in result.violations if not covered(v)]
        problems += result.errors
    if bxml and result.bxml_error:
        problems.append(f"invalid BXML: {result.bxml_error}")
    if stream:
        delivered = exchange is not None and exchange.delivered
        if delivered and not any(s.status == "accepted" for s in result.streams):
            problems.append("no media stream opened")
    if metrics:
        problems += result.metrics.failures()
    return problems
