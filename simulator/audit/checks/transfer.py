"""Checks on handing the caller to a person.

- ``transfer.request``: asked for a person, the bot sends exactly one
  ``PUT /api/v2/accounts/{accountId}/calls/{callId}/bxml`` for the trusted call, with
  ``Content-Type: application/xml``, a valid OAuth Bearer token, and a ``<Bxml>``
  document holding a ``<Transfer>`` with 1 to 8 targets (docs/bandwidth.md §4.5,
  docs/bandwidth.md §3.2; the guide's ``transfer_to_human``).
- ``transfer.after``: Bandwidth then interrupts the stream (``stop``, close). The call is
  no longer the bot's: a later hang-up of it gets 404, which must not be retried
  forever, and the bot serves the next call.
"""

from __future__ import annotations

from typing import Any

from simulator.audit.context import AuditContext
from simulator.audit.model import Verdict, error, failed, passed, skipped
from simulator.audit.rules import sentence
from simulator.audit.scenarios import TransferRun, transfer
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.rest.journal import JournalEntry
from simulator.rest.routes import Route

__all__ = ["after", "request"]


def _transfer_problems(put: JournalEntry) -> list[str]:
    problems: list[str] = []
    content_type = (put.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/xml":
        problems.append(
            f"its Content-Type is {put.headers.get('content-type')!r}, not application/xml"
        )
    scheme = (put.headers.get("authorization") or "").split(" ")[0].lower()
    if scheme != "bearer":
        problems.append(f"it authenticates with {scheme or 'nothing'}, not an OAuth Bearer token")
    elif put.client_id is None or put.status == 401:
        problems.append("its Bearer token is not one the OAuth endpoint issued (401)")
    try:
        document = parse_bxml(put.body, context="update", strict_root=True)
    except BxmlError as exc:
        problems.append(f"its body is not a <Bxml> document Bandwidth accepts ({exc})")
    else:
        if not document.transfers():
            names = ", ".join(f"<{v.name}>" for v in document.verbs) or "nothing"
            problems.append(f"its <Bxml> holds {names}, no <Transfer>")
    if put.status is not None and put.status >= 300 and not problems:
        problems.append(f"the Voice API answered {put.status}: {put.response_body[:200]}")
    return problems


async def _run(ctx: AuditContext) -> TransferRun:
    return await ctx.shared("transfer", lambda: transfer(ctx))


async def request(ctx: AuditContext) -> Verdict:
    """``transfer.request``: one well-formed ``PUT …/bxml`` ``<Transfer>`` for the trusted call."""
    check = "transfer.request"
    run = await _run(ctx)
    result = run.result
    person = ctx.lines["person"]
    entries = ctx.requests_since(run.mark)
    puts = [e for e in entries if e.route == Route.UPDATE_BXML and e.call_id == result.call_id]
    foreign = [e for e in ctx.foreign(check, entries) if e.route == Route.UPDATE_BXML]
    asked = run.seen.get("asked_at")
    evidence: dict[str, Any] = {
        "call_id": result.call_id,
        "caller_said": person.text,
        "transfer_requests": ctx.evidence(puts, asked),
        "other_requests": ctx.evidence(
            [e for e in ctx.about(result.call_id, entries) if e.route != Route.UPDATE_BXML], asked
        ),
        "final_phase": result.phase,
    }
    if asked is None:
        return failed(
            "the caller never got to ask for a person: the call or its stream ended first "
            "(see bxml.stream)",
            **evidence,
        )
    if foreign:
        return failed(
            f"the bot sent a transfer for another call ({foreign[0].path}): transfer the "
            "call the stream's token is bound to",
            **evidence,
        )
    if not puts:  # none in the whole budget (20 s): the guide's bot takes under a second
        return failed(
            f"the caller said {person.text!r} and no PUT …/calls/{{callId}}/bxml came within "
            f"{ctx.config.transfer_budget_s:g} s: on a request for a person, PUT "
            "<Bxml><Transfer><PhoneNumber>…</PhoneNumber></Transfer></Bxml>",
            **evidence,
        )
    problems = _transfer_problems(puts[0])
    if len(puts) > 1:
        problems.append(f"the bot sent {len(puts)} transfer requests for one request")
    latency = puts[0].at - float(asked)
    evidence["latency_s"] = round(latency, 2)
    if problems:
        return failed(
            sentence(
                [f"the transfer request {problems[0]}", *problems[1:]],
                "PUT <Bxml><Transfer>…</Transfer></Bxml> once, as application/xml, with "
                "'Authorization: Bearer <token from /api/v1/oauth2/token>'",
            ),
            problems=problems,
            **evidence,
        )
    return passed(
        f"{latency:.1f} s after the caller asked, the bot sent one PUT …/bxml <Transfer> "
        f"for its call (application/xml, Bearer, HTTP {puts[0].status})",
        **evidence,
    )


async def after(ctx: AuditContext) -> Verdict:
    """``transfer.after``: after the transfer, 404s are not retried forever; a new call works."""
    check = "transfer.after"
    run = await _run(ctx)
    result = run.result
    moved = run.transferred_at
    if moved is None:
        return skipped(
            "the bot did not transfer the call (see transfer.request), so there was no "
            "after to watch",
            call_id=result.call_id,
        )
    entries = [e for e in ctx.requests_since(run.mark) if e.at >= moved]
    later = [
        e
        for e in ctx.about(result.call_id, entries)
        if e.route in (Route.UPDATE_CALL, Route.UPDATE_BXML)
    ]
    foreign = ctx.foreign(check, entries)
    stream = result.streams[0] if result.streams else None
    evidence: dict[str, Any] = {
        "call_id": result.call_id,
        "stream": None
        if stream is None
        else {
            "stop_sent": stream.stop_sent,
            "close_code": stream.close_code,
            "closed_by": stream.closed_by,
        },
        "requests_after_transfer": ctx.evidence(later, moved),
        "foreign_requests": ctx.evidence(foreign, moved),
    }
    problems: list[str] = []
    if foreign:
        problems.append(
            f"after the transfer the bot sent {len(foreign)} request(s) for other calls "
            f"({foreign[0].method} {foreign[0].path})"
        )
    if len(later) > ctx.config.max_retries:
        problems.append(
            f"the bot sent {len(later)} requests for the transferred call, retrying its 404 "
            f"answers (more than {ctx.config.max_retries})"
        )
    successes = [e for e in later if e.status is not None and e.status < 300]
    if successes:
        # A transferred call is final in the fake Voice API (rest/registry.py): no bot can
        # make a request for it succeed, so this is the audit's fault, not the bot's.
        return error(
            f"the fake Voice API accepted a request for a transferred call "
            f"({successes[0].summary()}), which it must refuse (404): a bwsim bug",
            **evidence,
        )
    served, smoke = await ctx.smoke_call(check)
    evidence["next_call"] = smoke
    if not served:
        problems.append("the bot did not serve a new call after the transfer")
    if problems:
        return failed(
            sentence(
                problems,
                "once the call is transferred it is not the bot's: treat a 404 on it as done, "
                "do not retry, and keep serving new calls",
            ),
            problems=problems,
            **evidence,
        )
    statuses = ", ".join(f"{e.method} {e.status}" for e in later) or "no request"
    return passed(
        f"after the transfer Bandwidth stopped the stream; the bot sent {statuses} for the "
        "call and served a new call",
        **evidence,
    )
