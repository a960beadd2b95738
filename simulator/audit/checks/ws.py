"""Checks on the media socket: tokens that must be refused, and the forms of the frames.

The guide binds the socket to the authenticated webhook with a one-time, short-lived
token in the destination; a socket presenting a token the bot never minted, one already
used, or one past its lifetime must be refused, and nothing may happen to any call as a
result. Through uvicorn a refusal before ``accept`` reaches the client as HTTP 403 on
the upgrade; a close with 1008 right after ``accept`` is the other accepted form
(docs/pipecat.md §4). Each check also opens a genuine socket, so a bot that refuses
everything is not mistaken for one that checks tokens.

``ws.wire_forms`` places one short call in each form of the media frames other than the
default (docs/bandwidth.md §1.5: ``eventType`` first, ``audio/PCMU``, a numeric
``accountId``) and asks whether the bot still greets: a bot that parses one form only is
warned (the live wire shows the default form today).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from simulator.audit.context import AuditContext, Minted, MintError
from simulator.audit.model import Verdict, error, failed, passed, skipped, warned
from simulator.audit.probe import ProbeResult, RawStream, refusal, start_frame
from simulator.audit.rules import sentence
from simulator.audit.scenarios import await_greeting, conversation
from simulator.audit.tokens import bot_stream_url, forge, replace_parts, varying_parts
from simulator.call.live import LiveCall
from simulator.errors import CallTimeout
from simulator.protocol.ids import new_stream_id
from simulator.protocol.wire import DEFAULT_WIRE, PROFILES, WIRES
from simulator.rest.journal import JournalEntry
from simulator.rest.registry import Call

__all__ = ["token_expiry", "token_reuse", "unknown_token", "wire_forms"]

LISTEN_S = 1.0
"""How long a probe listens after ``start`` for the bot to close or speak."""
SPEAK_WITHIN_MS = 20_000.0
"""How long ``ws.wire_forms`` waits for the bot to speak in each form."""
AFTER_S = 1.0
"""How long requests are attributed to a refused attempt after it ended."""

_FIX = (
    "look the token up server-side, consume it on first use, give it a short lifetime, "
    "and refuse anything else before accepting the socket (websocket.close(code=1008))"
)


async def attempt(ctx: AuditContext, url: str, headers: dict[str, str], call: Call) -> ProbeResult:
    """Open a socket, send ``start`` naming ``call``, stream silence, listen, hang up."""
    stream = RawStream(url, headers)
    if await stream.open():
        frame = start_frame(
            account_id=call.account_id, call_id=call.call_id, stream_id=new_stream_id()
        )
        await stream.send(frame)
        stream.stream_silence()
        await stream.wait(LISTEN_S)
    return await stream.close()


async def genuine(ctx: AuditContext, call: Call) -> tuple[bool, ProbeResult]:
    """Mint a destination for ``call`` and use it at once: True if the bot accepted it.

    An accepted stream is a call (the bot runs a session), so it takes a call slot, and
    the token is minted once the slot is held: a short lifetime cannot run out waiting.
    """
    async with ctx.slots.take():
        minted = await ctx.mint(call)
        result = await attempt(ctx, minted.ws_url, minted.headers, call)
    return result.outcome == "open", result


def _touching(
    ctx: AuditContext, owner: str, call: Call, entries: list[JournalEntry]
) -> list[JournalEntry]:
    own = ctx.about(call.call_id, entries)
    return own + [e for e in ctx.foreign(owner, entries) if e not in own]


def _judge(
    ctx: AuditContext,
    *,
    attempts: list[tuple[str, ProbeResult]],
    resulting: list[JournalEntry],
    control: tuple[bool, ProbeResult] | None,
    t0: float,
    what: str,
) -> Verdict:
    problems: list[str] = []
    forms: list[str] = []
    for label, probe in attempts:
        refused, how = refusal(probe)
        forms.append(how)
        if not refused:
            problems.append(f"a socket with {label} was not refused ({how})")
    if resulting:
        problems.append(
            f"{len(resulting)} Voice API request(s) followed the attempt(s) with {what}"
        )
    if control is not None and not control[0]:
        _, how = refusal(control[1])
        problems.append(
            f"the genuine token was refused as well ({how}), so the check cannot tell whether "
            "the bot checks tokens at all"
        )
    evidence: dict[str, Any] = {
        "attempts": {label: probe.to_evidence() for label, probe in attempts},
        "requests": ctx.evidence(resulting, t0),
    }
    if control is not None:
        evidence["genuine_token"] = control[1].to_evidence()
    if problems:
        return failed(sentence(problems, _FIX), problems=problems, **evidence)
    seen = sorted(set(forms))
    return passed(
        f"every socket with {what} was refused ({'; '.join(seen)}) and no Voice API "
        "request followed",
        **evidence,
    )


async def unknown_token(ctx: AuditContext) -> Verdict:
    """``ws.unknown_token``: a token the bot never minted opens no socket."""
    check = "ws.unknown_token"
    call = ctx.new_call(check)
    try:
        first, second = await ctx.mint(call), await ctx.mint(call)  # for where the token is
    except MintError as exc:
        return failed(f"{exc}: a bot must answer an authenticated initiate with <StartStream>")
    varying = varying_parts([first.destination, second.destination])
    forged: list[tuple[str, str]] = []
    if not varying:
        forged.append(("the destination itself (it carries no token)", second.destination))
    else:
        real = {place: values[1] for place, values in varying.items()}
        for how, label in (
            ("same-shape", "a random token of the genuine one's shape"),
            ("near-miss", "the genuine token with its last character changed"),
            ("short", "a one-character token"),
        ):
            fake = {place: forge(value, how) for place, value in real.items()}
            forged.append((label, replace_parts(second.destination, fake)))
    mark, t0 = ctx.mark(), time.monotonic()
    attempts = []
    for label, destination in forged:
        url = bot_stream_url(destination, ctx.bot.base_url)
        attempts.append((label, await attempt(ctx, url, second.headers, call)))
    await asyncio.sleep(AFTER_S)
    resulting = _touching(ctx, check, call, ctx.requests_since(mark))
    control = None
    if varying:  # a fresh genuine token: the first ones may have expired meanwhile
        try:
            control = await genuine(ctx, ctx.new_call(check))
        except MintError as exc:
            return failed(
                f"{exc} (the webhook for the genuine-token control, after two were answered "
                "with <StartStream>): a bot must answer every authenticated initiate with "
                "<StartStream>"
            )
    return _judge(
        ctx,
        attempts=attempts,
        resulting=resulting,
        control=control,
        t0=t0,
        what="a token the bot never minted",
    )


async def token_reuse(ctx: AuditContext) -> Verdict:
    """``ws.token_reuse``: a token opens one socket; a second use is refused."""
    check = "ws.token_reuse"
    call = ctx.new_call(check)
    async with ctx.slots.take():  # the first, genuine socket is a live call
        try:
            minted = await ctx.mint(call)
        except MintError as exc:
            return failed(f"{exc}: a bot must answer an authenticated initiate with <StartStream>")
        minted_at = time.monotonic()
        verdict, reused_at = await _reuse(ctx, check, call, minted)
    if verdict.status == "passed" and reused_at is not None:
        reused_after_s = reused_at - minted_at
        verdict.evidence["reused_after_s"] = round(reused_after_s, 2)
        if reused_after_s >= ctx.config.token_ttl_s:
            # A refusal past the token's lifetime may be its expiry, not the reuse.
            return error(
                f"the used token was presented again {reused_after_s:.1f} s after it was "
                f"minted, past its {ctx.config.token_ttl_s:g} s lifetime, so its refusal "
                "cannot be told from expiry. The machine was too slow for that lifetime: "
                "run the audit with a longer --token-ttl-s, and the bot with the same.",
                **verdict.evidence,
            )
    return verdict


async def _reuse(
    ctx: AuditContext, check: str, call: Call, minted: Minted
) -> tuple[Verdict, float | None]:
    """The verdict, and when the used token was first presented again (monotonic)."""
    first = RawStream(minted.ws_url, minted.headers)
    if await first.open():
        await first.send(
            start_frame(account_id=call.account_id, call_id=call.call_id, stream_id=new_stream_id())
        )
        first.stream_silence()
        await first.wait(LISTEN_S, until_audio=True)
    if first.closed.is_set():
        result = await first.close()
        verdict = _judge(
            ctx,
            attempts=[],
            resulting=[],
            control=(False, result),
            t0=time.monotonic(),
            what="a used token",
        )
        return verdict, None
    mark, t0 = ctx.mark(), time.monotonic()
    while_open = await attempt(ctx, minted.ws_url, minted.headers, call)
    await asyncio.sleep(AFTER_S)
    resulting = _touching(ctx, check, call, ctx.requests_since(mark))
    first_result = await first.close()
    await ctx.quiet()  # the first session's own teardown (a hang-up of its call) lands here
    mark = ctx.mark()
    after_close = await attempt(ctx, minted.ws_url, minted.headers, call)
    await asyncio.sleep(AFTER_S)
    resulting += _touching(ctx, check, call, ctx.requests_since(mark))
    attempts = [
        ("the token again while its first socket was open", while_open),
        ("the token again after its first socket had closed", after_close),
    ]
    verdict = _judge(
        ctx,
        attempts=attempts,
        resulting=resulting,
        control=(True, first_result),
        t0=t0,
        what="a used token",
    )
    return verdict, t0


async def token_expiry(ctx: AuditContext) -> Verdict:
    """``ws.token_expiry``: a token past its lifetime opens no socket."""
    check = "ws.token_expiry"
    call = ctx.new_call(check)
    try:
        minted = await ctx.mint(call)
        minted_at = time.monotonic()
        # A genuine token used at once must work, or a refusal later proves nothing.
        control = await genuine(ctx, ctx.new_call(check))
    except MintError as exc:
        return failed(f"{exc}: a bot must answer an authenticated initiate with <StartStream>")
    wait_s = ctx.config.token_ttl_s + ctx.config.token_margin_s - (time.monotonic() - minted_at)
    await asyncio.sleep(max(0.0, wait_s))  # the token's lifetime passing is the point
    mark, t0 = ctx.mark(), time.monotonic()
    late = await attempt(ctx, minted.ws_url, minted.headers, call)
    await asyncio.sleep(AFTER_S)
    resulting = _touching(ctx, check, call, ctx.requests_since(mark))
    label = f"the token {round(t0 - minted_at, 1):g} s after it was minted"
    verdict = _judge(
        ctx,
        attempts=[(label, late)],
        resulting=resulting,
        control=control,
        t0=t0,
        what=f"a token older than its {ctx.config.token_ttl_s:g} s lifetime",
    )
    verdict.evidence["token_ttl_s"] = ctx.config.token_ttl_s
    verdict.evidence["presented_after_s"] = round(t0 - minted_at, 2)
    return verdict


async def _greet_in(ctx: AuditContext, name: str) -> dict[str, Any]:
    """One short call in wire form ``name``: whether the stream opened and the bot spoke."""
    seen: dict[str, Any] = {}

    async def caller(call: LiveCall) -> None:
        # Whether the bot speaks at all, not how soon (audio.greeting times it): a wait
        # far past any greeting, so a loaded machine gives the same verdict.
        with contextlib.suppress(CallTimeout):
            await await_greeting(call, SPEAK_WITHIN_MS, seen, until_done=False)
        call.hangup()

    options = ctx.options(wire=name, max_call_s=30)
    result = await ctx.place_call(f"scenario:wire:{name}", caller, options)
    stream = result.streams[0] if result.streams else None
    return {
        "call_id": result.call_id,
        "stream_accepted": "accepted_ms" in seen,
        "spoke": "speech_start_ms" in seen,
        "close_code": None if stream is None else stream.close_code,
        "closed_by": None if stream is None else stream.closed_by,
    }


def _wire_problem(name: str, call: dict[str, Any]) -> str | None:
    """What went wrong in form ``name``, in words; None when the bot greeted."""
    form = PROFILES[name]
    how = (
        f"with the {name} form of the frames (encoding {form.encoding!r}, eventType "
        f"{'last' if form.event_type_last else 'first'}"
        f"{', accountId a number' if form.numeric_account else ''}; {form.source})"
    )
    if not call["stream_accepted"]:
        return f"{how} the bot's stream never opened"
    if call["spoke"]:
        return None
    if call["closed_by"] == "bot":
        return f"{how} the bot closed the socket ({call['close_code']}) without speaking"
    return f"{how} the bot never spoke"


async def wire_forms(ctx: AuditContext) -> Verdict:
    """``ws.wire_forms``: the bot greets in every form Bandwidth's sources show (§1.5)."""
    conv = await ctx.shared("conversation", lambda: conversation(ctx))
    others = [name for name in WIRES if name != DEFAULT_WIRE]
    if conv.accepted_ms is None or conv.result.recorder.first("bot-speech-start") is None:
        return skipped(
            f"the bot did not greet with the default ({DEFAULT_WIRE}) form either, so the "
            "other forms prove nothing (see audio.greeting)",
            call_id=conv.result.call_id,
        )
    results = await asyncio.gather(*(_greet_in(ctx, name) for name in others))
    calls = dict(zip(others, results, strict=True))
    problems = [p for name, call in calls.items() if (p := _wire_problem(name, call))]
    evidence: dict[str, Any] = {"default_call_id": conv.result.call_id, "calls": calls}
    if problems:
        return warned(
            sentence(
                problems,
                "Bandwidth's own sources show each of these forms (docs/bandwidth.md §1.5): "
                "read a frame's fields by name, whatever their order, take the encoding "
                "with or without 'audio/', and an accountId string or number",
            ),
            problems=problems,
            **evidence,
        )
    return passed(f"the bot greeted in every form of the frames: {', '.join(WIRES)}", **evidence)
