"""The one judgement of whether a call passed, as each command words it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from simulator.call.result import CallResult
from simulator.judge.verdicts import call_problems
from simulator.rest.journal import Violation


def _result(**changes: Any) -> CallResult:
    fields: dict[str, Any] = {
        "exchange": SimpleNamespace(error="the bot answered 500", delivered=False),
        "violations": [Violation("orphaned-leg", "leg left up")],
        "errors": ["the call timed out"],
        "bxml_error": "no <Response>",
        "streams": [],
        "metrics": SimpleNamespace(failures=lambda: ["turn 1 unanswered"]),
    }
    fields.update(changes)
    return cast(CallResult, SimpleNamespace(**fields))


def test_a_clean_call_has_no_problems() -> None:
    """No error, violation or webhook error: the call passed, whatever is counted."""
    clean = _result(
        exchange=SimpleNamespace(error=None, delivered=True),
        violations=[],
        errors=[],
        bxml_error=None,
        streams=[SimpleNamespace(status="accepted")],
        metrics=SimpleNamespace(failures=list),
    )
    assert call_problems(clean) == []
    assert call_problems(clean, style="scenario", bxml=True, stream=True, metrics=True) == []


def test_the_cli_puts_the_webhook_first() -> None:
    """The call and serve commands: webhook, then violations as kind: detail, then errors."""
    assert call_problems(_result()) == [
        "webhook: the bot answered 500",
        "orphaned-leg: leg left up",
        "the call timed out",
    ]


def test_load_also_counts_a_missing_stream_and_the_metrics() -> None:
    """The load command: a delivered webhook without a stream and metric failures count too."""
    delivered = SimpleNamespace(error=None, delivered=True)
    assert call_problems(_result(exchange=delivered), stream=True, metrics=True) == [
        "orphaned-leg: leg left up",
        "the call timed out",
        "no media stream opened",
        "turn 1 unanswered",
    ]


def test_a_scenario_leaves_out_what_its_expectations_judge() -> None:
    """Scenarios: errors first, covered violations and a judged webhook left out, BXML in."""
    result = _result()
    assert call_problems(result, style="scenario", webhook=False, bxml=True) == [
        "the call timed out",
        "the bot broke a rule (orphaned-leg): leg left up",
        "invalid BXML: no <Response>",
    ]
    assert call_problems(result, style="scenario", covered=lambda v: True) == [
        "the call timed out",
        "webhook: the bot answered 500",
    ]
