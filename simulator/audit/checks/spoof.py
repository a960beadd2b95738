"""Spoofing: the media socket must act only on the call its token is bound to.

The ``start`` frame is attacker-controlled (docs/bandwidth.md §2.8): a bot that takes
``callId``/``accountId`` from it lets anyone who reaches ``/ws`` hang up or transfer any
live call in the operator's account. Each spoofing call has a **victim**: a live call in
the same account (or in another account) that no stream belongs to. Whatever the bot
does (transfer, end the call, hang up when the stream ends), every request it makes must
concern its own call, and the victim must be up at the end. Because victims have no
stream, any request touching one is the bot's mistake, whichever session made it, so
the calls can run side by side.

A request is about the bot's own call only when *both* its account and its call id are
that call's (:func:`~simulator.audit.rules.about_trusted`): the bot's own call id under
the forged account is the spoof too, whatever the fake answered (403).

- ``spoof.start_ids``: ``start`` names the victim's ``callId``; then the victim's
  ``callId`` and ``accountId``; then a call in another account; then ids with URL
  metacharacters aimed at the victim. Each forgery is run twice: the caller asks for a
  person (transfer) and says goodbye (the bot ends the call, then its stream ends).
  With ``--slow``, two forgeries (the victim's ids; another account's call) are also run
  with a silent caller who keeps the socket open until the bot's idle timeout: a Pipecat
  pipeline that ends on a live socket makes ``BandwidthFrameSerializer`` hang up with
  whatever ids it was given (docs/pipecat.md §3), the one request a bot without tools
  makes, so the check sees which call that hang-up names.
- ``spoof.interleaved_webhooks``: a webhook for another call arrives between this call's
  webhook and its stream, with no other webhook in between (the check holds the webhook
  gate): a bot that keeps "the current call" in a global acts on the wrong one. The
  caller asks for a person, or says goodbye; with ``--slow`` a third, silent caller
  keeps the socket open until the bot's idle timeout, as in ``spoof.start_ids``, so a
  bot without tools shows whose ids its serializer holds. The gate is held until the
  talking calls are over and the silent call's stream has opened (the bot holds its ids
  by then), not for the whole idle timeout, which would stall every other check. A bot
  that reads its "current call" only when it acts is caught by the talking calls, which
  act inside the window.

No pass from zero observations: a check in which the bot made no Voice API request at
all (no transfer, no hang-up) saw nothing that shows which ids it uses, so it is
``inconclusive``, with what would make the bot act.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from simulator.audit.config import Utterance
from simulator.audit.context import Acted, AuditContext
from simulator.audit.model import Verdict, failed, inconclusive, passed
from simulator.audit.rules import sentence
from simulator.audit.scenarios import await_greeting, until_acted
from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.rest.journal import JournalEntry
from simulator.rest.registry import Call

__all__ = ["interleaved_webhooks", "start_ids"]

_FIX = (
    "take callId and accountId only from the token the authenticated webhook minted, never "
    "from the start frame or any per-process 'current call'"
)


@dataclass(frozen=True)
class Forgery:
    """A way of forging the ``start`` metadata, aimed at a victim call."""

    name: str
    other_account: bool
    overrides: Callable[[Call], dict[str, str]]


FORGERIES = (
    Forgery("the victim's callId", False, lambda v: {"callId": v.call_id}),
    Forgery(
        "the victim's callId and accountId",
        False,
        lambda v: {"callId": v.call_id, "accountId": v.account_id},
    ),
    Forgery(
        "a live call in another account",
        True,
        lambda v: {"callId": v.call_id, "accountId": v.account_id},
    ),
    Forgery(
        "ids with URL metacharacters aimed at the victim",
        False,
        lambda v: {
            "callId": f"{v.call_id}?state=completed#",
            "accountId": f"{v.account_id}/../{v.account_id}",
        },
    ),
)
PATHS = ("person", "goodbye")
"""What the caller says in each forged call: ask for a person, or say goodbye."""
SILENT = ("the victim's callId and accountId", "a live call in another account")
"""Forgeries also run (``--slow``) with a silent caller, until the bot's idle timeout."""
SILENCE = "silence"
"""The path of a silent caller (``--slow``): nothing said, until the bot's idle timeout."""


def talker(ctx: AuditContext, line: Utterance, acted: asyncio.Event) -> Callable[[LiveCall], Any]:
    """A caller who says ``line`` once the bot greets, then waits for the bot to act.

    ``acted`` is set when the bot modifies the call or its victim; the caller then stays
    a moment (the call usually ends: transferred or hung up) and hangs up, so a bot that
    hit the victim instead is not waited for until the budget runs out.
    """

    async def caller(call: LiveCall) -> None:
        await await_greeting(call, ctx.config.greeting_budget_ms, {}, until_done=False)
        await call.pause(300)
        await call.say(line.samples, label=line.name)
        await until_acted(call, acted, ctx.config.transfer_budget_s, grace_s=1.5)

    return caller


def silent(
    ctx: AuditContext, acted: asyncio.Event, opened: asyncio.Event | None = None
) -> Callable[[LiveCall], Any]:
    """A caller who says nothing and keeps the socket open until the bot acts.

    The bot's idle timeout (plus the margin) is what ends a pipeline that has no tools:
    its serializer then hangs up with the ids it was given, on the still-open socket.
    ``opened`` is set once the bot accepted the stream (it holds the ids it will use).
    """

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=10_000)
        if opened is not None:
            opened.set()
        await until_acted(call, acted, _idle_hold(ctx), grace_s=1.5)

    return caller


def _idle_hold(ctx: AuditContext) -> float:
    """How long a silent caller stays: the bot's idle timeout and the margin."""
    return ctx.config.idle_timeout_s + ctx.config.idle_margin_s


def _line(ctx: AuditContext, path: str) -> Utterance | None:
    """What the caller of ``path`` says; None for the silent caller."""
    return None if path == SILENCE else ctx.lines[path]


def _call_options(ctx: AuditContext, line: Utterance | None, **fields: Any) -> CallOptions:
    """A spoofing call's options: long enough to be transferred, or to wait out the idle."""
    hold = _idle_hold(ctx) if line is None else 0.0
    return ctx.options(
        caller_lines=[line.text] if line else [],
        max_call_s=ctx.config.transfer_budget_s + 45 + hold,
        **fields,
    )


def _said(line: Utterance | None) -> str:
    """What the caller said, for the evidence."""
    return line.text if line else "(nothing, until the bot's idle timeout)"


def _place(
    ctx: AuditContext,
    check: str,
    line: Utterance | None,
    options: CallOptions,
    victim: Call,
    *,
    client: httpx.AsyncClient | None = None,
    opened: asyncio.Event | None = None,
) -> tuple[CallSession, Acted]:
    """A session whose caller says ``line`` (None: silent) until the bot acts on either call."""
    session = ctx.session(check, None, options, client=client)
    acted = ctx.acted({session.call_id, victim.call_id})
    session.caller_script = talker(ctx, line, acted) if line else silent(ctx, acted, opened)
    return session, acted


def _actions(result: CallResult, entries: list[JournalEntry]) -> list[str]:
    own = [e for e in entries if e.call_id == result.call_id]
    return [f"{e.method} {e.route} {e.status}" for e in own]


def _whose(ctx: AuditContext, runs: list[dict[str, Any]], e: JournalEntry) -> str:
    """Where a foreign request went, in words."""
    run = next((r for r in runs if r["victim"] == e.call_id), None)
    if run is not None:
        return str(run["victim_label"])
    own = next((r for r in runs if r["call_id"] == e.call_id), None)
    if own is not None:
        forged = " (the forged one)" if e.account_id in own.get("forged_accounts", ()) else ""
        return (
            f"account {e.account_id}{forged}, not the bot's own call's account "
            f"{ctx.accounts.get(own['call_id'])}: the bot's call id under another account is "
            "a request to that account"
        )
    return "a call no check placed"


def _judge(
    ctx: AuditContext,
    check: str,
    runs: list[dict[str, Any]],
    entries: list[JournalEntry],
    what: str,
    *,
    silent_calls: str,
) -> Verdict:
    """Failed for a request about another call or a victim down, else passed.

    Inconclusive when the bot never acted; ``silent_calls`` names what ``--slow`` adds.
    """
    foreign = ctx.foreign(check, entries)
    victims_down = [r for r in runs if not ctx.is_up(r["victim"])]
    for r in runs:
        r["victim_phase"] = ctx.phase(r["victim"])
        r["victim_requests"] = ctx.evidence([e for e in entries if e.call_id == r["victim"]])
    evidence: dict[str, Any] = {"calls": runs, "foreign_requests": ctx.evidence(foreign)}
    problems: list[str] = []
    for e in foreign:
        problems.append(f"{e.method} {e.path} (HTTP {e.status}) went to {_whose(ctx, runs, e)}")
    problems += [f"{r['victim_label']} was {r['victim_phase']}" for r in victims_down]
    for r in runs:
        r.pop("forged_accounts", None)
    if problems:
        return failed(sentence(problems, _FIX), problems=problems, **evidence)
    acted = sum(1 for r in runs if r["actions"])
    if not acted:
        slow = (
            "it ran with --slow, so the bot's idle timeout did not end a pipeline either: "
            "pass --idle-timeout-s as the bot has it"
            if ctx.config.slow
            else f"run with --slow ({silent_calls} until the bot's idle timeout, which "
            "makes a Pipecat serializer hang up with the ids it was given)"
        )
        return inconclusive(
            f"in {len(runs)} calls {what}, the bot made no Voice API request at all (no "
            f"transfer, no hang-up), so nothing showed which call it would act on; {slow}",
            **evidence,
        )
    return passed(
        f"in {len(runs)} calls {what}, every Voice API request concerned the bot's own call "
        f"(the bot acted in {acted} of them) and every victim is still up",
        **evidence,
    )


async def start_ids(ctx: AuditContext) -> Verdict:
    """``spoof.start_ids``: forged ``start`` ids never choose the call the bot acts on."""
    check = "spoof.start_ids"
    plans = []
    for forgery in FORGERIES:
        paths = (*PATHS, SILENCE) if ctx.config.slow and forgery.name in SILENT else PATHS
        for path in paths:
            account = ctx.other_account() if forgery.other_account else None
            victim = ctx.new_call(check, decoy=True, account=account)
            plans.append((forgery, path, victim))
    mark = ctx.mark()

    async def one(forgery: Forgery, path: str, victim: Call) -> dict[str, Any]:
        line = _line(ctx, path)
        overrides = forgery.overrides(victim)
        options = _call_options(ctx, line, metadata_overrides=overrides)
        session, acted = _place(ctx, check, line, options, victim)
        try:
            # Silent calls wait out the idle timeout: they queue behind the talking ones.
            async with ctx.slots.take(priority=2 if line else 3):
                result = await ctx.run_session(session)
        finally:
            acted.close()
        return {
            "forged": forgery.name,
            "victim_label": f"the victim of the call with {forgery.name}",
            "caller_said": _said(line),
            "call_id": result.call_id,
            "victim": victim.call_id,
            "start_metadata": overrides,
            "forged_accounts": [overrides["accountId"]] if "accountId" in overrides else [],
            "result": result,
        }

    runs = await asyncio.gather(*(one(*p) for p in plans))
    await ctx.quiet()
    entries = ctx.requests_since(mark)
    for run in runs:
        result = run.pop("result")
        run["actions"] = _actions(result, entries)
        run["final_phase"] = result.phase
    return _judge(
        ctx, check, list(runs), entries,
        "whose start frames named another call", silent_calls="silent forged calls",
    )  # fmt: skip


class _Interleaver:
    """Holds each call's webhook answer until the other call's webhook has been sent."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.answered: dict[str, asyncio.Event] = {}

    def expect(self, call_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self.answered[call_id] = event
        return event

    async def hook(self, request: httpx.Request, response: httpx.Response) -> None:
        if response.status_code != 200:
            return
        body = request.content
        for call_id, event in list(self.answered.items()):
            if call_id.encode() in body and b'"initiate"' in body:
                event.set()
                await asyncio.wait_for(self.release.wait(), 30)


async def interleaved_webhooks(ctx: AuditContext) -> Verdict:
    """``spoof.interleaved_webhooks``: another call's webhook between webhook and stream."""
    check = "spoof.interleaved_webhooks"
    interleaver = _Interleaver()
    client = ctx.new_client(gated=False, hook=interleaver.hook)
    paths = (*PATHS, SILENCE) if ctx.config.slow else PATHS
    opened = asyncio.Event()
    sessions: list[tuple[CallSession, Utterance | None]] = []
    watchers: list[Acted] = []
    tasks: list[asyncio.Task[CallResult]] = []
    try:
        async with ctx.slots.take(len(paths), priority=2):
            async with ctx.gate.exclusive():
                mark = ctx.mark()
                other = ctx.new_call(check, decoy=True)
                for path in paths:
                    line = _line(ctx, path)
                    options = _call_options(ctx, line)
                    session, acted = _place(
                        ctx, check, line, options, other, client=client, opened=opened
                    )
                    watchers.append(acted)
                    answered = interleaver.expect(session.call_id)
                    sessions.append((session, line))
                    tasks.append(asyncio.create_task(ctx.run_session(session)))
                    try:
                        await asyncio.wait_for(answered.wait(), 20)
                    except TimeoutError:
                        break  # the webhook was not answered 200; the session reports why
                exchange = await ctx.send_webhook(
                    ctx.initiate(other), auth=ctx.auth(), client=client
                )
                interleaver.release.set()
                await _until_talked_and_opened(tasks, sessions, opened)
                await ctx.quiet()
            # Out of the window: the silent call waits out the bot's idle timeout.
            results = await asyncio.gather(*tasks)
            if any(line is None for _, line in sessions):
                await ctx.quiet()
    finally:
        for watcher in watchers:
            watcher.close()
        for task in tasks:
            task.cancel()
    entries = ctx.requests_since(mark)
    runs: list[dict[str, Any]] = []
    for (_, line), result in zip(sessions, results, strict=True):
        runs.append(
            {
                "forged": None,
                "victim_label": "the call whose webhook came in between",
                "caller_said": _said(line),
                "call_id": result.call_id,
                "victim": other.call_id,
                "actions": _actions(result, entries),
                "final_phase": result.phase,
                "stream": result.streams[0].status if result.streams else None,
            }
        )
    verdict = _judge(
        ctx, check, runs, entries,
        "whose webhook was followed by another call's before their stream opened",
        silent_calls="a silent call",
    )  # fmt: skip
    verdict.evidence["interleaved_webhook"] = {
        "call_id": other.call_id,
        "status": exchange.final_status,
        "order": [r["call_id"] for r in runs] + [other.call_id],
    }
    watched = verdict.status in ("passed", "inconclusive")
    if not any(r["stream"] == "accepted" for r in runs) and watched:
        return failed(
            "no interleaved call's stream was accepted, so the check could not watch the bot "
            "act: answer authenticated webhooks with a <StartStream> the bot accepts",
            **verdict.evidence,
        )
    return verdict


async def _until_talked_and_opened(
    tasks: list[asyncio.Task[CallResult]],
    sessions: list[tuple[CallSession, Utterance | None]],
    opened: asyncio.Event,
) -> None:
    """Wait until the talking calls are over and the silent call (if any) has its stream.

    A silent call whose stream never opens ends on its own, which ends the wait too.
    """
    talking = [t for t, (_, line) in zip(tasks, sessions, strict=False) if line is not None]
    quiet = [t for t, (_, line) in zip(tasks, sessions, strict=False) if line is None]
    if talking:
        await asyncio.wait(talking)
    if quiet:
        stream = asyncio.create_task(opened.wait())
        try:
            await asyncio.wait([stream, *quiet], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stream.cancel()
