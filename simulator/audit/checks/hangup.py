"""Checks on how calls end: a dropped stream, a caller who leaves, a silent caller.

- ``hangup.on_stream_loss``: the media connection dies (no ``stop``, no close frame)
  while ``<Pause>`` holds the call. Bandwidth keeps the call up, silent, until the pause
  ends; only the bot can end it, through the Voice API. With Pipecat 1.14 the
  serializer sends no hang-up once the socket is gone (docs/pipecat.md §3), so the
  guide's own bot fails this: a true finding. A bot whose BXML goes on after the stream
  (``<StopStream wait="true">`` with nothing after it) is ended by Bandwidth and passes.
  A hang-up is a ``POST {"state": "completed"}`` or a PUT of ``<Hangup/>`` BXML that the
  Voice API accepted; one it refused (401, 404) ends nothing and is no hang-up.
- ``hangup.caller_left``: after the caller hangs up (``stop``, close), whatever the bot
  still sends concerns its own call only (a 404 is expected), is not repeated forever,
  and the bot serves the next call.
- ``hangup.on_silence`` (``--slow``): a caller who says nothing is hung up within the
  bot's idle timeout (Pipecat's default: 300 s).
"""

from __future__ import annotations

import time
from typing import Any

from simulator.audit.context import AuditContext
from simulator.audit.model import Verdict, failed, missed, passed, skipped
from simulator.audit.rules import sentence
from simulator.audit.scenarios import await_greeting, conversation
from simulator.call.live import LiveCall
from simulator.call.recorder import TimelineEvent
from simulator.rest.journal import JournalEntry
from simulator.rest.routes import Route

__all__ = ["caller_left", "on_silence", "on_stream_loss"]


def _ended_by_bxml(notes: list[str]) -> bool:
    return any("BXML ran out" in n for n in notes)


def _endings(ctx: AuditContext, call_id: str, since: float) -> list[JournalEntry]:
    """The bot's requests to end its call from ``since`` on, first first, whatever answered.

    Either ``POST {"state": "completed"}`` or a BXML update holding ``<Hangup/>``
    (docs/bandwidth.md §4.5): both end a call on Bandwidth.
    """
    journal = ctx.fake.journal
    bxml = [
        e
        for e in journal.find(route=Route.UPDATE_BXML, call_id=call_id)
        if "<Hangup" in (e.body or "")
    ]
    return sorted((e for e in [*journal.hangups(call_id), *bxml] if e.at >= since),
                  key=lambda e: e.at)  # fmt: skip


async def on_stream_loss(ctx: AuditContext) -> Verdict:
    """``hangup.on_stream_loss``: a dropped stream makes the bot hang its call up."""
    check = "hangup.on_stream_loss"
    budget = ctx.config.hangup_budget_s
    seen: dict[str, Any] = {}

    async def caller(call: LiveCall) -> None:
        await await_greeting(call, ctx.config.greeting_budget_ms, seen, until_done=False)
        await call.pause(500)
        seen["dropped_at"] = time.monotonic()
        seen["dropped_ms"] = call.ms()
        call.drop_streams()
        await call.pause((budget + 5) * 1000)  # the call stays up until someone ends it

    decoy = ctx.new_call(check, decoy=True)
    options = ctx.options(orphan_grace_s=budget, max_call_s=budget + 45)
    result = await ctx.place_call(check, caller, options)
    await ctx.quiet()
    evidence: dict[str, Any] = {"call_id": result.call_id, "budget_s": budget}
    if "dropped_at" not in seen:
        return failed(
            "the bot's stream never opened, so its loss could not be tested (see bxml.stream)",
            **evidence,
        )
    dropped = float(seen["dropped_at"])
    endings = _endings(ctx, result.call_id, dropped)
    accepted = [e for e in endings if e.status is not None and e.status < 300]
    foreign = ctx.foreign(check, ctx.requests_since(0))
    foreign = [e for e in foreign if e.at >= dropped]
    notes = [str(e.detail.get("detail", "")) for e in result.events("note")]
    orphaned = [v for v in result.violations if v.kind == "orphaned-leg"]
    evidence.update(
        stream=result.streams[0].to_dict() if result.streams else None,
        hangups=ctx.evidence(endings, dropped),
        foreign_requests=ctx.evidence(foreign, dropped),
        final_phase=result.phase,
        disconnect_cause=result.disconnect_cause,
        decoy_up=ctx.is_up(decoy.call_id),
    )
    if foreign:
        return failed(
            f"after its stream dropped the bot sent {len(foreign)} request(s) for other "
            f"calls ({foreign[0].method} {foreign[0].path}): act only on the call the "
            "stream's token is bound to",
            **evidence,
        )
    orphan = (
        "leaving an orphaned leg that <Pause> keeps up, silent: when the media socket ends "
        "for any reason, POST {'state': 'completed'} for the call yourself (the Pipecat "
        "1.14 serializer does not once the socket is closed)"
    )
    if accepted and (orphaned or accepted[0].at - dropped > budget):
        # A hang-up that came late may be the machine's load: re-run, unreliable if loaded.
        came = accepted[0].at - dropped
        return missed(
            f"the stream dropped without stop and the bot did not hang its call up within "
            f"{budget:g} s (its hang-up came {came:.1f} s later), {orphan}",
            over=came / budget,
            **evidence,
        )
    if orphaned:  # no accepted hang-up at all: not a matter of time
        refused = (
            f" (its hang-up was refused: {endings[0].method} {endings[0].path} got HTTP "
            f"{endings[0].status})"
            if endings
            else ""
        )
        return failed(
            f"the stream dropped without stop and the bot did not hang its call up within "
            f"{budget:g} s{refused}, {orphan}",
            **evidence,
        )
    if accepted:
        latency = accepted[0].at - dropped
        evidence["hangup_latency_s"] = round(latency, 2)
        return passed(
            f"the stream dropped and the bot hung its call up {latency:.2f} s later "
            f"({accepted[0].method} {accepted[0].route}, HTTP {accepted[0].status})",
            **evidence,
        )
    if _ended_by_bxml(notes):
        also = f" (the bot's own hang-up then got {endings[0].status})" if endings else ""
        return passed(
            "the stream dropped and the call ended by itself: the bot's BXML goes on after "
            f"the stream (<StopStream wait>) and runs out{also}",
            **evidence,
        )
    return failed(
        f"the stream dropped and the call was {result.phase} at the end with no hang-up from "
        "the bot: hang the call up when its media socket ends",
        **evidence,
    )


async def caller_left(ctx: AuditContext) -> Verdict:
    """``hangup.caller_left``: after the caller leaves, only its own call; then a new call."""
    check = "hangup.caller_left"
    bystander = ctx.new_call(check, decoy=True)
    conv = await ctx.shared("conversation", lambda: conversation(ctx))
    left = conv.left_at
    evidence: dict[str, Any] = {"call_id": conv.result.call_id, "bystander": bystander.call_id}
    if left is None:
        return skipped(
            "the conversation call ended before the caller could hang up (see bxml.stream)",
            **evidence,
        )
    await ctx.quiet()
    after = [e for e in ctx.requests_since(conv.mark) if e.at >= left]
    own = ctx.about(conv.result.call_id, after)
    foreign = ctx.foreign(check, after)
    streams = conv.result.streams
    evidence.update(
        stream={
            "stop_sent": streams[0].stop_sent,
            "close_code": streams[0].close_code,
            "closed_by": streams[0].closed_by,
        }
        if streams
        else None,
        frames_after_stop=sum(
            1 for r in conv.result.recorder.trace if r["kind"] == "ws-recv-after-stop"
        ),
        own_requests=ctx.evidence(own, left),
        foreign_requests=ctx.evidence(foreign, left),
        bystander_phase=ctx.phase(bystander.call_id),
    )
    problems: list[str] = []
    if foreign:
        problems.append(
            f"after the caller hung up the bot sent {len(foreign)} request(s) for other calls "
            f"({foreign[0].method} {foreign[0].path})"
        )
    if not ctx.is_up(bystander.call_id):
        problems.append("a bystander call in the same account was ended")
    writes = [e for e in own if e.route in (Route.UPDATE_CALL, Route.UPDATE_BXML)]
    if len(writes) > ctx.config.max_retries:
        problems.append(
            f"the bot sent {len(writes)} requests for its call after it had ended, retrying "
            "the 404 answers"
        )
    served, smoke = await ctx.smoke_call(check)
    evidence["next_call"] = smoke
    if not served:
        problems.append("the bot did not serve a new call afterwards")
    if problems:
        return failed(
            sentence(
                problems,
                "when the caller leaves, end the session, hang up only the call the stream "
                "is bound to (treat 404 as done), and keep serving new calls",
            ),
            problems=problems,
            **evidence,
        )
    statuses = ", ".join(f"{e.method} {e.status}" for e in own) or "no request"
    return passed(
        f"after the caller hung up the bot acted only on its own call ({statuses}) and "
        "served a new call",
        **evidence,
    )


def _quiet_since(timeline: list[TimelineEvent], opened_ms: float, now_ms: float) -> float:
    """Since when (call clock) neither side has spoken: the bot's last speech, or the open."""
    speech = [e for e in timeline if e.kind in ("bot-speech-start", "bot-speech-end")]
    speech = [e for e in speech if e.at_ms <= now_ms]
    if speech and speech[-1].kind == "bot-speech-start":
        return now_ms  # the bot is speaking: nobody is idle
    return max([opened_ms, *(e.at_ms for e in speech)])


async def on_silence(ctx: AuditContext) -> Verdict:
    """``hangup.on_silence``: a silent caller is hung up within the idle timeout."""
    check = "hangup.on_silence"
    limit = ctx.config.idle_timeout_s + ctx.config.idle_margin_s
    seen: dict[str, Any] = {}

    async def caller(call: LiveCall) -> None:
        opened = await call.wait_for("stream-accepted", timeout_ms=10_000)
        seen["opened_ms"] = opened.at_ms
        # Silent on the line until the bot ends the call, or the line has been quiet (the
        # bot's greeting over) for longer than the idle timeout and its margin.
        while (
            call.ms() - _quiet_since(call.recorder.timeline, opened.at_ms, call.ms()) < limit * 1000
        ):
            await call.pause(250)
        seen["gave_up"] = True

    result = await ctx.place_call(check, caller, ctx.options(max_call_s=limit + 60))
    evidence: dict[str, Any] = {
        "call_id": result.call_id,
        "idle_timeout_s": ctx.config.idle_timeout_s,
        "limit_s": limit,
    }
    if "opened_ms" not in seen:
        return failed(
            "the bot's stream never opened, so silence could not be tested (see bxml.stream)",
            **evidence,
        )
    clock = result.recorder.clock
    endings = _endings(ctx, result.call_id, 0.0)
    hangups = [e for e in endings if e.status is not None and e.status < 300]
    notes = [str(e.detail.get("detail", "")) for e in result.events("note")]
    evidence.update(
        hangups=ctx.evidence(endings, clock.t0),
        final_phase=result.phase,
        violations=[v.kind for v in result.violations],
    )
    if seen.get("gave_up"):
        return failed(
            f"the caller stayed silent for {limit:g} s after the bot last spoke and the bot "
            "never ended the call: end the pipeline on idle (Pipecat's idle_timeout_secs) "
            "while the socket is open, so the call is hung up",
            **evidence,
        )
    if hangups:
        at_ms = (hangups[0].at - clock.t0) * 1000
        idle = (at_ms - _quiet_since(result.timeline, float(seen["opened_ms"]), at_ms)) / 1000
        evidence["quiet_before_hangup_s"] = round(idle, 1)
        return passed(
            f"the caller stayed silent and the bot hung up {idle:.1f} s after the line went "
            f"quiet (limit {limit:g} s)",
            **evidence,
        )
    if _ended_by_bxml(notes):
        return passed(
            "the caller stayed silent and the bot closed its stream, which ended the call "
            "(its BXML ran out)",
            **evidence,
        )
    orphaned = any(v.kind == "orphaned-leg" for v in result.violations)
    what = (
        "closed its stream but left the call up (an orphaned leg)"
        if orphaned
        else f"let the call end without hanging it up (phase {result.phase})"
    )
    return failed(
        f"the caller stayed silent and the bot {what}: hang the call up when it goes idle",
        **evidence,
    )
