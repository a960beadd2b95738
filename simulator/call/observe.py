"""What the registry and the journal tell a running call: timeline records, runner events.

The Voice API changes a call through the registry (often from another thread); the
session hears of it here. Each change is recorded on the call's timeline, and the ones
BXML execution must act on become typed events for the
:class:`~simulator.protocol.bxml_runner.BxmlRunner`. Each request the Voice API answered
for the call goes to the trace and the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simulator.call.recorder import CallRecorder
from simulator.protocol import bxml_runner as bx
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.verbs import Fallback, Step, plan
from simulator.rest.journal import JournalEntry
from simulator.rest.registry import (
    Answered,
    BxmlReplaced,
    CallEvent,
    Ended,
    HangupRequested,
    RedirectRequested,
    Transferred,
)
from simulator.rest.routes import Route

__all__ = ["planned_update", "record_call_event", "record_journal_entry"]


def planned_update(bxml: str, base_url: str) -> tuple[Step, ...] | None:
    """The steps of BXML put through the Voice API; None when it is invalid."""
    try:
        document = parse_bxml(bxml, context="update", strict_root=False)
    except BxmlError:
        return None  # the Voice API answered 400 already; nothing runs
    return tuple(plan(document, base_url))


def _method(value: Any) -> str:
    return str(value).upper() if value else "POST"


def _redirected(body: Mapping[str, Any]) -> bx.Redirected:
    """The redirect an Update Call asked for, with its method, fallback and tag."""
    fallback_url = body.get("redirectFallbackUrl")
    fallback = None
    if isinstance(fallback_url, str) and fallback_url:
        fallback = Fallback(
            fallback_url,
            _method(body.get("redirectFallbackMethod")),
            body.get("fallbackUsername") or None,
            body.get("fallbackPassword") or None,
        )
    tag = body.get("tag")
    return bx.Redirected(
        str(body.get("redirectUrl")),
        body.get("username") or None,
        body.get("password") or None,
        method=_method(body.get("redirectMethod")),
        fallback=fallback,
        tag=tag if isinstance(tag, str) else None,
    )


def record_call_event(
    recorder: CallRecorder,
    event: CallEvent,
    plan_update: Callable[[str], tuple[Step, ...] | None],
) -> bx.Event | None:
    """Record a registry change on the timeline; return what the runner must hear of it."""
    match event:
        case Answered():
            recorder.event("call-answered")
        case HangupRequested(source=source):
            recorder.event("hangup-request", source=source)
        case RedirectRequested(redirect=redirect):
            recorder.event("redirect", url=redirect.get("redirectUrl"))
            return _redirected(redirect)
        case BxmlReplaced(bxml=bxml):
            recorder.event("bxml-replaced", bytes=len(bxml))
            return bx.BxmlReplaced(plan_update(bxml))
        case Transferred(targets=targets):
            transfer = event.call.transfer
            b_leg = transfer.b_leg_call_id if transfer else None
            recorder.event("transfer", targets=list(targets), b_leg=b_leg)
        case Ended(cause=cause):
            recorder.event("call-ended", cause=cause)
            return bx.Ended()
    return None


def record_journal_entry(
    recorder: CallRecorder, call_id: str, entry: JournalEntry, *, ended: bool
) -> None:
    """Trace a Voice API request of this call (or a token request while it is up)."""
    if entry.call_id == call_id or (entry.route == Route.TOKEN and not ended):
        recorder.log(
            "api-request",
            method=entry.method,
            path=entry.path,
            route=entry.route,
            status=entry.status,
            body=entry.body[:300],
        )
        if entry.route != Route.TOKEN and entry.call_id == call_id:
            recorder.event(
                "api-request", method=entry.method, route=entry.route, status=entry.status
            )
