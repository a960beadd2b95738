"""What judging reads of one call, and what it says: observation, occurrence, verdict.

:func:`~simulator.judge.expect.observe` builds an :class:`Observation` of a finished
call; each expectation kind turns it into :class:`Occurrence` s, and
:func:`~simulator.judge.expect.judge` into one :class:`Verdict` (pure data, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.call.recorder import TimelineEvent
from simulator.call.stream import StreamOutcome
from simulator.call.webhook_sender import WebhookExchange
from simulator.judge.gaps import Gaps
from simulator.judge.scenario import Expectation
from simulator.rest.journal import JournalEntry, Violation

__all__ = ["Observation", "Occurrence", "Verdict"]


@dataclass
class Observation:
    """What one call left behind, on its own clock (milliseconds from the webhook)."""

    call_id: str
    timeline: list[TimelineEvent]
    exchange: WebhookExchange | None
    streams: list[StreamOutcome]
    requests: list[tuple[float, JournalEntry]]
    """Voice API requests naming this call, with their time on the call's clock."""
    victim_requests: list[tuple[float, JournalEntry]] = field(default_factory=list)
    """Requests naming the victim call (or, for another account, that account)."""
    phase: str = "initiated"
    cause: str | None = None
    victim_id: str | None = None
    victim_phase: str | None = None
    victim_cause: str | None = None
    violations: list[tuple[float, Violation]] = field(default_factory=list)
    """Violations during this call, with their time on the call's clock."""
    templates: Mapping[str, str] = field(default_factory=dict)
    gaps: Gaps = field(default_factory=Gaps)
    """Where the call's record is incomplete (a flooding bot's records past a bound)."""

    def times(self, kind: str) -> list[float]:
        """When each event of ``kind`` happened."""
        return [e.at_ms for e in self.timeline if e.kind == kind]


@dataclass(frozen=True)
class Occurrence:
    """One candidate for an expectation: when, whether it has the asked-for properties."""

    at_ms: float
    ok: bool
    what: str
    """A few words: ``clear (bot was speaking)``, ``POST …/calls/c-1 → 404``."""
    why_not: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """How one expectation fared."""

    expectation: Expectation
    passed: bool
    detail: str
    at_ms: float | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    over: float | None = None
    """Set when the only fault is a missed ``within_ms`` budget: the occurrence came, late.
    How late, as a factor of the budget (1.5: half as long again). A scenario that failed
    only this way is run once more (:mod:`simulator.runner.machine`)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        return {
            "expect": self.expectation.kind,
            "description": self.expectation.describe(),
            "line": self.expectation.line,
            "passed": self.passed,
            "detail": self.detail,
            "at_ms": None if self.at_ms is None else round(self.at_ms, 1),
            "evidence": dict(self.evidence),
            **({"over_budget": round(self.over, 2)} if self.over is not None else {}),
        }
