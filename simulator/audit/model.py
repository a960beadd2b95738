"""What a check decides, and what an audit reports: plain data, no I/O.

A check ends in a :class:`Verdict`:

- ``passed``: the bot was seen doing what the rule asks (never from zero observations);
- ``failed``: a finding that breaks Bandwidth's contract, lets a party without the
  webhook secret act on a call, or loses a call;
- ``warned``: a finding about hardening beyond the contract (for instance a malformed
  body that only a holder of the webhook secret can send); listed with its advice;
- ``inconclusive``: the check watched nothing that could decide it (the bot never acted
  where the check looks); the detail says why and what would make the bot act;
- ``unreliable``: a time budget was missed twice while the machine was too loaded for
  the tool to trust its own clock; not counted as the bot's failure;
- ``skipped``: the check cannot apply (a ``--url`` target for ``webhook.creds_unset``, a
  slow check without ``--slow``); never counted as passed;
- ``error``: the audit itself could not make the check.

Exit code (:attr:`AuditReport.exit_code`): 2 on an ``error``, else 1 on a ``failed``,
else 1 under ``--strict`` on a ``warned``, ``inconclusive`` or ``unreliable``, else 0.
``detail`` is one sentence saying what was wrong and what to
do; ``evidence`` holds the requests, frames, statuses and timings that decided it, all
JSON-ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "SCHEMA",
    "STATUSES",
    "AuditReport",
    "CheckResult",
    "Status",
    "Verdict",
    "error",
    "failed",
    "inconclusive",
    "missed",
    "passed",
    "skipped",
    "unreliable",
    "warned",
]

SCHEMA: Final = 1
"""Version of the ``--json`` file."""

Status = Literal["passed", "failed", "warned", "inconclusive", "unreliable", "skipped", "error"]
STATUSES: Final[tuple[Status, ...]] = (
    "passed",
    "failed",
    "warned",
    "inconclusive",
    "unreliable",
    "skipped",
    "error",
)
STRICT: Final[frozenset[str]] = frozenset({"warned", "inconclusive", "unreliable"})
"""Statuses that fail the audit only under ``--strict``."""


@dataclass(frozen=True)
class Verdict:
    """How one check ended, and why."""

    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    budget: bool = False
    """A failure that is only a missed time budget: the runner re-runs it once, and
    reports ``unreliable`` when the machine was too loaded to trust it."""
    over: float | None = None
    """For a missed budget: what was measured over the budget (1.5: half as long again);
    None when it cannot be told (nothing came within the wait)."""


def passed(detail: str, **evidence: Any) -> Verdict:
    """The bot did what Bandwidth and the guide require."""
    return Verdict("passed", detail, evidence)


def failed(detail: str, **evidence: Any) -> Verdict:
    """The bot broke the rule the check is named for; ``detail`` says what to do."""
    return Verdict("failed", detail, evidence)


def missed(detail: str, over: float | None = None, **evidence: Any) -> Verdict:
    """A time budget was missed (``over``: measured / budget): re-run once before it stands."""
    return Verdict("failed", detail, evidence, budget=True, over=over)


def warned(detail: str, **evidence: Any) -> Verdict:
    """A hardening finding beyond Bandwidth's contract; ``detail`` gives the advice."""
    return Verdict("warned", detail, evidence)


def inconclusive(detail: str, **evidence: Any) -> Verdict:
    """The check observed nothing that could decide it; ``detail`` says why."""
    return Verdict("inconclusive", detail, evidence)


def unreliable(detail: str, **evidence: Any) -> Verdict:
    """A budget missed under a load the tool cannot trust; ``detail`` gives the load."""
    return Verdict("unreliable", detail, evidence)


def skipped(detail: str, **evidence: Any) -> Verdict:
    """The check cannot apply to this target; ``detail`` says why."""
    return Verdict("skipped", detail, evidence)


def error(detail: str, **evidence: Any) -> Verdict:
    """The audit could not make the check (not a finding about the bot)."""
    return Verdict("error", detail, evidence)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict, with its id, title and how long it took."""

    id: str
    title: str
    verdict: Verdict
    duration_ms: float
    load: dict[str, Any] = field(default_factory=dict)
    """The machine's load while the check ran (``os.getloadavg`` and the CPU count)."""

    @property
    def status(self) -> Status:
        """One of :data:`STATUSES`."""
        return self.verdict.status

    @property
    def passed(self) -> bool:
        """True only for a check that ran and passed (a skip is not a pass)."""
        return self.verdict.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        """The check's entry in the ``--json`` file."""
        return {
            "id": self.id,
            "title": self.title,
            "passed": self.passed,
            "status": self.status,
            "detail": self.verdict.detail,
            "duration_ms": round(self.duration_ms, 1),
            "load": self.load,
            "evidence": self.verdict.evidence,
        }


@dataclass(frozen=True)
class AuditReport:
    """Every selected check's result, in catalogue order, and what the run was."""

    target: str
    results: tuple[CheckResult, ...]
    duration_s: float
    options: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    bot_logs: tuple[str, ...] = ()
    """The log files of the bots the audit started (next to ``--json``, in ``bots/``)."""
    strict: bool = False
    """``--strict``: warnings, inconclusive and unreliable verdicts fail the audit too."""
    interrupted: bool = False
    """Interrupted (Ctrl-C, SIGTERM): the checks not finished are ``skipped``, saying so."""

    def count(self, status: Status) -> int:
        """How many checks ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """2 on an error, else 1 on a failure, else 1 under ``--strict`` on any other finding.

        Warnings, inconclusive and unreliable verdicts are listed but fail only under
        ``--strict`` (README.md). An interrupted audit is 130 whatever it found.
        """
        if self.interrupted:
            return 130
        if self.count("error"):
            return 2
        if self.count("failed"):
            return 1
        if self.strict and any(r.status in STRICT for r in self.results):
            return 1
        return 0

    def ids(self, status: Status) -> list[str]:
        """The ids of the checks that ended with ``status``, in catalogue order."""
        return [r.id for r in self.results if r.status == status]

    def result(self, check_id: str) -> CheckResult:
        """The result of one check; KeyError if it was not run."""
        for r in self.results:
            if r.id == check_id:
                return r
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (``"schema": 1``)."""
        return {
            "schema": SCHEMA,
            "target": self.target,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 2),
            "strict": self.strict,
            "interrupted": self.interrupted,
            "summary": {s: self.count(s) for s in STATUSES},
            "options": self.options,
            "notes": list(self.notes),
            "bot_logs": list(self.bot_logs),
            "checks": [r.to_dict() for r in self.results],
        }
