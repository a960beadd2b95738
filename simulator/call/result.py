"""What one call produced, once it is over: the record tests, reports and the CLI read."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.call.recorder import CallRecorder, TimelineEvent
from simulator.call.stream import StreamOutcome
from simulator.call.webhook_sender import WebhookExchange
from simulator.judge.metrics import CallMetrics, measure
from simulator.protocol.redact import redact
from simulator.rest.journal import JournalEntry, Violation

__all__ = ["CallResult"]


@dataclass
class CallResult:
    """Everything one call produced: ids, the webhook exchange, streams, timeline, requests."""

    call_id: str
    account_id: str
    application_id: str
    exchange: WebhookExchange | None
    bxml_error: str | None
    streams: list[StreamOutcome]
    recorder: CallRecorder
    phase: str
    disconnect_cause: str | None
    api_requests: list[JournalEntry]
    violations: list[Violation]
    errors: list[str]
    violations_not_kept: dict[str, int] = field(default_factory=dict)
    """Per kind: violations past the first ``MAX_VIOLATIONS_PER_RULE``, counted only."""
    violations_not_kept_since: dict[str, float] = field(default_factory=dict)
    """Per kind: when the first violation not kept came (``time.monotonic()``)."""
    requests_not_kept: dict[str, int] = field(default_factory=dict)
    """Per route: this call's requests past ``MAX_REQUESTS_PER_ROUTE``, counted only."""
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    """Every webhook sent after ``initiate`` (redirect, gather, mediaStream*, disconnect):
    event, URL, method, outcome, status, whether it was delivered and to the fallback."""

    @property
    def timeline(self) -> list[TimelineEvent]:
        """The call's events in time order."""
        return sorted(self.recorder.timeline, key=lambda e: e.at_ms)

    def events(self, kind: str) -> list[TimelineEvent]:
        """The timeline events of one kind."""
        return [e for e in self.recorder.timeline if e.kind == kind]

    @functools.cached_property
    def metrics(self) -> CallMetrics:
        """The latencies measured from the call's audio, computed once.

        The summary, the reports and the artifacts all read this one; call
        ``measure(result, config)`` for other thresholds.
        """
        return measure(self)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary of ``bwsim call`` (``"schema": 1``), secrets masked.

        The bot's BXML and request bodies keep their shape; a token, a client secret or a
        ``destinationPassword`` in them reads ``***`` (:mod:`simulator.protocol.redact`).
        """
        ex = self.exchange
        summary = {
            "schema": 1,
            "call": {
                "callId": self.call_id,
                "accountId": self.account_id,
                "applicationId": self.application_id,
                "final_state": self.phase,
                "disconnect_cause": self.disconnect_cause,
            },
            "webhook": None
            if ex is None
            else {
                "url": ex.url,
                "outcome": ex.outcome,
                "status": ex.final_status,
                "attempts": [
                    {"auth": a.auth_sent, "status": a.status, "elapsed_ms": a.elapsed_ms}
                    for a in ex.attempts
                ],
                "bxml": ex.bxml_text,
                "error": ex.error,
                "rule_broken": ex.rule_broken,
            },
            "bxml_error": self.bxml_error,
            "callbacks": self.callbacks,
            "streams": [s.to_dict() for s in self.streams],
            "events": [e.to_dict() for e in self.timeline],
            "api_requests": [
                {
                    "at_ms": round(self.recorder.clock.at(e.at), 1),
                    "method": e.method,
                    "path": e.path,
                    "route": e.route,
                    "status": e.status,
                    "account_id": e.account_id,
                    "call_id": e.call_id,
                    "client_id": e.client_id,
                    "body": e.body[:500],
                }
                for e in self.api_requests
            ],
            "violations": [v.report(self.recorder.clock.at(v.at)) for v in self.violations],
            "violations_not_kept": self.violations_not_kept,
            "timeline_events_not_kept": dict(self.recorder.events_not_kept.counts),
            "api_requests_not_kept": self.requests_not_kept,
            "trace_records_not_kept": self.recorder.trace_not_kept,
            "errors": self.errors,
            "metrics": self.metrics.to_dict(),
        }
        masked: dict[str, Any] = redact(summary)
        return masked

    def write(self, directory: Path) -> dict[str, Path]:
        """Write ``call.wav``, ``trace.jsonl``, ``timeline.json`` and ``summary.json``."""
        paths = self.recorder.write(directory)
        summary = directory / "summary.json"
        summary.write_text(json.dumps(self.summary(), indent=1, default=str) + "\n", "utf-8")
        paths["summary"] = summary
        return paths
