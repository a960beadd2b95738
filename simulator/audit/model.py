"""What a check decides, and what an audit reports: plain data, no I/O.

A check ends in a :class:`Verdict`: ``passed``, ``failed`` (the bot broke a rule),
``skipped`` (the check cannot apply: a ``--url`` target for ``webhook.creds_unset``, a
slow check without ``--slow``; never counted as passed) or ``error`` (the audit itself
could not make the check). ``detail`` is one sentence saying what was wrong and what to
do; ``evidence`` holds the requests, frames, statuses and timings that decided it, all
JSON-ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "SCHEMA",
    "AuditReport",
    "CheckResult",
    "Status",
    "Verdict",
    "error",
    "failed",
    "passed",
    "skipped",
]

SCHEMA: Final = 1
"""Version of the ``--json`` file."""

Status = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class Verdict:
    """How one check ended, and why."""

    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


def passed(detail: str, **evidence: Any) -> Verdict:
    """The bot did what Bandwidth and the guide require."""
    return Verdict("passed", detail, evidence)


def failed(detail: str, **evidence: Any) -> Verdict:
    """The bot broke the rule the check is named for; ``detail`` says what to do."""
    return Verdict("failed", detail, evidence)


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

    @property
    def status(self) -> Status:
        """``passed``, ``failed``, ``skipped`` or ``error``."""
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

    def count(self, status: Status) -> int:
        """How many checks ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """2 if a check could not be made, else 1 if one failed, else 0 (README.md)."""
        if self.count("error"):
            return 2
        if self.count("failed"):
            return 1
        return 0

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
            "summary": {s: self.count(s) for s in ("passed", "failed", "skipped", "error")},
            "options": self.options,
            "notes": list(self.notes),
            "bot_logs": list(self.bot_logs),
            "checks": [r.to_dict() for r in self.results],
        }
