"""``bxml.stream``: the webhook answer opens a bidirectional stream and keeps the call up.

Bandwidth runs the answer's BXML (docs/bandwidth.md §1.4, §3.1): ``<StartStream>``
does not block, so a document that ends after it hangs the call up at once;
``mode="bidirectional"`` is what lets the bot's ``playAudio`` reach the caller; a
keep-alive verb (``<Pause duration="86400"/>`` in the guide, or ``<StopStream
wait="true"/>`` in Bandwidth's samples) holds the call while the stream runs. The check
reads the BXML and watches the conversation call stay up until the caller hangs up.
"""

from __future__ import annotations

from typing import Any

from simulator.audit.context import AuditContext
from simulator.audit.model import Verdict, failed, passed
from simulator.audit.rules import keepalive, sentence
from simulator.audit.scenarios import conversation
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.verbs import StartStream, plan

__all__ = ["stream"]


async def stream(ctx: AuditContext) -> Verdict:
    """Judge the conversation call's webhook answer and whether the call stayed up."""
    conv = await ctx.shared("conversation", lambda: conversation(ctx))
    result = conv.result
    exchange = result.exchange
    evidence: dict[str, Any] = {"call_id": result.call_id}
    if exchange is None or exchange.bxml_text is None:
        why = exchange.error if exchange is not None else "no webhook was sent"
        evidence["webhook"] = None if exchange is None else exchange.to_dict()
        return failed(
            f"the initiate webhook was not answered with BXML ({why}): answer 200, "
            "application/xml, with <StartStream>",
            **evidence,
        )
    evidence["bxml"] = exchange.bxml_text[:2000]
    evidence["webhook_outcome"] = exchange.outcome
    try:
        document = parse_bxml(exchange.bxml_text, context="webhook")
    except BxmlError as exc:
        return failed(
            f"the answer is invalid BXML ({exc}): Bandwidth would end the call", **evidence
        )
    steps = plan(document, ctx.webhook_url)
    starts = [s for s in steps if isinstance(s, StartStream)]
    problems: list[str] = []
    if not starts:
        problems.append("the answer has no <StartStream>")
    else:
        first = starts[0]
        evidence["start_stream"] = {
            "destination": first.destination,
            "mode": "bidirectional" if first.bidirectional else "unidirectional",
            "tracks": list(first.tracks),
            "name": first.name,
        }
        if not first.bidirectional:
            problems.append(
                "the <StartStream> is unidirectional, so the bot's audio never reaches the "
                'caller (add mode="bidirectional")'
            )
        hold = keepalive(steps)
        evidence["keepalive"] = {"holds": hold.holds, "verb": hold.verb, "hold_s": hold.hold_s}
        if not hold.holds:
            problems.append(hold.explanation)
    streams = [s.to_dict() for s in result.streams]
    evidence["streams"] = [
        {k: s[k] for k in ("status", "http_status", "close_code", "closed_by", "error")}
        for s in streams
    ]
    evidence["call_up_when_caller_hung_up"] = conv.alive_at_hangup
    if starts and not (result.streams and result.streams[0].status == "accepted"):
        problems.append(
            "the stream the answer names was not accepted "
            f"({result.streams[0].error if result.streams else 'never dialled'})"
        )
    elif starts and not conv.alive_at_hangup:
        problems.append(
            f"the call ended before the caller hung up (phase {result.phase}, cause "
            f"{result.disconnect_cause})"
        )
    if problems:
        return failed(
            sentence(
                problems,
                'answer <StartStream mode="bidirectional" …/> followed by <Pause '
                'duration="86400"/> (or <StopStream name="…" wait="true"/>)',
            ),
            problems=problems,
            **evidence,
        )
    hold = keepalive(steps)
    return passed(
        f"the answer opens a bidirectional stream and {hold.explanation}; the call stayed "
        "up until the caller hung up",
        **evidence,
    )
