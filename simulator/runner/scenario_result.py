"""How one scenario went: its status, the verdicts and evidence that decided it.

``status`` is ``passed``, ``failed``, ``unreliable`` (a time budget missed twice on a
loaded machine: :mod:`simulator.runner.rerun`), ``skipped`` or ``error`` (bwsim could not
run it). :meth:`ScenarioResult.to_dict` is the scenario's entry in ``report.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.call.result import CallResult
from simulator.judge.expect import Verdict
from simulator.judge.scenario import Scenario

__all__ = ["ScenarioResult", "Status"]

Status = Literal["passed", "failed", "unreliable", "skipped", "error"]


@dataclass
class ScenarioResult:
    """How one scenario went."""

    scenario: Scenario
    status: Status
    detail: str
    verdicts: list[Verdict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    call: CallResult | None = None
    timings: dict[str, float | None] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    victim_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    """Latencies measured on the audio (reported, not judged: expectations judge)."""
    bot: str | None = None
    """The base URL of the bot instance that took the call (one of ``--instances``)."""
    bot_log: str | None = None
    """The log file of that bot instance (None for a bot bwsim did not start)."""
    bot_exited: bool = False
    """Its bot exited during this call or before it: ``problems[0]`` says how."""
    error: dict[str, str] | None = None
    """For status ``"error"``: the exception's ``type``, ``message`` and ``traceback``."""
    load: dict[str, float] = field(default_factory=dict)
    """The machine's load while the call ran (:mod:`simulator.runner.machine`)."""
    first_attempt: dict[str, Any] | None = None
    """Set when the scenario was run twice (:mod:`simulator.runner.rerun`): the first run."""

    @property
    def passed(self) -> bool:
        """Whether the scenario passed."""
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the evidence that decided it (schema 1)."""
        s = self.scenario
        call = self.call
        evidence: dict[str, Any] = {}
        if call is not None:
            summary = call.summary()
            evidence = {
                "call_id": call.call_id,
                "account_id": call.account_id,
                "victim_call_id": self.victim_id,
                "final_state": call.phase,
                "disconnect_cause": call.disconnect_cause,
                "webhook": summary["webhook"],
                "streams": summary["streams"],
                "api_requests": summary["api_requests"],
                "violations": summary["violations"],
                "violations_not_kept": summary["violations_not_kept"],
                "timeline_events_not_kept": summary["timeline_events_not_kept"],
                "api_requests_not_kept": summary["api_requests_not_kept"],
                "events": summary["events"],
            }
        return {
            "id": s.id,
            "name": s.name,
            "file": str(s.path),
            "line": s.line,
            "description": s.description,
            "status": self.status,
            "passed": self.passed,
            "detail": self.detail,
            "duration_ms": round(self.duration_ms, 1),
            "bot": self.bot,
            "bot_log": self.bot_log,
            "timings": {k: (None if v is None else round(v, 1)) for k, v in self.timings.items()},
            "expectations": [v.to_dict() for v in self.verdicts],
            "metrics": self.metrics,
            "problems": self.problems,
            "artifacts": self.artifacts,
            "evidence": evidence,
            "load": self.load,
            **({"first_attempt": self.first_attempt} if self.first_attempt else {}),
            **({"error": self.error} if self.error is not None else {}),
        }
