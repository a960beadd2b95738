"""The simulated calls several checks judge together, each placed once per audit.

- :func:`conversation`: the bot greets, the caller says one sentence ("Hello, can you
  hear me?"), the bot answers, the caller hangs up. Judged by ``bxml.stream``,
  ``audio.greeting``, ``audio.valid_output`` and ``hangup.caller_left``.
- :func:`transfer`: after the greeting the caller asks for a person; the bot should
  transfer the call, after which Bandwidth stops the stream. Judged by
  ``transfer.request`` and ``transfer.after``.

Each returns what the caller saw and when (monotonic times for matching journal
entries, call-clock milliseconds for the timeline and the recording).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from simulator.audit.config import Utterance
from simulator.audit.context import AuditContext
from simulator.call.live import LiveCall
from simulator.call.result import CallResult
from simulator.errors import CallTimeout

__all__ = [
    "Conversation",
    "TransferRun",
    "await_greeting",
    "conversation",
    "transfer",
    "until_acted",
]

CONVERSATION = "scenario:conversation"
TRANSFER = "scenario:transfer"


async def await_greeting(
    call: LiveCall, budget_ms: float, seen: dict[str, Any], *, until_done: bool
) -> None:
    """Wait for the stream, then for the bot to start (and, if asked, finish) speaking.

    What was seen goes into ``seen`` as it happens, so it survives the call ending.
    """
    opened = await call.wait_for("stream-accepted", timeout_ms=10_000)
    seen["accepted_ms"] = opened.at_ms
    try:
        start = await call.wait_for("bot-speech-start", timeout_ms=budget_ms + 2000)
    except CallTimeout:
        return
    seen["speech_start_ms"] = start.at_ms
    if until_done:
        try:
            await call.wait_for("bot-speech-end", timeout_ms=20_000, after_ms=start.at_ms)
        except CallTimeout:
            seen["greeting_never_ended"] = True


async def until_acted(
    call: LiveCall, acted: asyncio.Event, budget_s: float, grace_s: float
) -> bool:
    """Stay on the line until the bot acts (``acted``) or ``budget_s`` passes.

    Returns whether it acted; after it did, waits ``grace_s`` more for the call to end.
    Raises :class:`~simulator.call.live.CallEnded` when the call ends meanwhile.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    while not acted.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await call.pause(min(remaining, 0.25) * 1000)
    await call.pause(grace_s * 1000)
    return True


@dataclass
class Conversation:
    """The shared conversation call and what the caller saw."""

    result: CallResult
    mark: int
    started: float
    seen: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted_ms(self) -> float | None:
        """When the stream opened (call clock)."""
        value = self.seen.get("accepted_ms")
        return None if value is None else float(value)

    @property
    def alive_at_hangup(self) -> bool:
        """Whether the call was still up when the caller hung up."""
        return bool(self.seen.get("alive_at_hangup"))

    @property
    def left_at(self) -> float | None:
        """Monotonic time the caller hung up (None if the call ended before)."""
        value = self.seen.get("left_at")
        return None if value is None else float(value)


async def conversation(ctx: AuditContext) -> Conversation:
    """Place the conversation call (see the module docstring)."""
    hello: Utterance = ctx.lines["hello"]
    seen: dict[str, Any] = {}

    async def caller(call: LiveCall) -> None:
        await await_greeting(call, ctx.config.greeting_budget_ms, seen, until_done=True)
        await call.pause(300)
        await call.say(hello.samples, label=hello.name)
        spoke = call.ms()
        seen["caller_spoke_ms"] = spoke
        try:
            reply = await call.wait_for("bot-speech-start", timeout_ms=8000, after_ms=spoke)
            seen["reply_ms"] = reply.at_ms
            await call.wait_for("bot-speech-end", timeout_ms=20_000, after_ms=reply.at_ms)
        except CallTimeout:
            seen["no_reply"] = True
        await call.pause(500)
        seen["alive_at_hangup"] = not call.ended
        seen["left_at"] = time.monotonic()
        seen["left_ms"] = call.ms()
        call.hangup()

    mark, started = ctx.mark(), time.monotonic()
    options = ctx.options(caller_lines=[hello.text], max_call_s=75)
    result = await ctx.place_call(CONVERSATION, caller, options, priority=0)
    return Conversation(result, mark, started, seen)


@dataclass
class TransferRun:
    """The shared transfer call, and the requests after the transfer."""

    result: CallResult
    mark: int
    seen: dict[str, Any] = field(default_factory=dict)
    transferred_at: float | None = None
    """Monotonic time of the transfer (None if the bot did not transfer)."""


async def transfer(ctx: AuditContext) -> TransferRun:
    """Place the transfer call, then watch the bot for a while after the transfer."""
    person = ctx.lines["person"]
    seen: dict[str, Any] = {}
    budget = ctx.config.transfer_budget_s

    async def caller(call: LiveCall) -> None:
        await await_greeting(call, ctx.config.greeting_budget_ms, seen, until_done=True)
        await call.pause(300)
        await call.say(person.samples, label=person.name)
        seen["asked_at"] = time.monotonic()
        seen["asked_ms"] = call.ms()
        # Until the transfer takes the caller away (or, if it failed, a moment after).
        if not await until_acted(call, acted, budget, grace_s=3.0):
            seen["gave_up"] = True

    mark = ctx.mark()
    options = ctx.options(caller_lines=[person.text], max_call_s=budget + 60)
    session = ctx.session(TRANSFER, caller, options)
    acted = ctx.acted({session.call_id})
    try:
        async with ctx.slots.take():
            result = await ctx.run_session(session)
    finally:
        acted.close()
    run = TransferRun(result, mark, seen)
    call = ctx.fake.registry.get(result.call_id)
    moved = result.events("transfer")
    if call is not None and call.transfer is not None and moved:
        run.transferred_at = result.recorder.clock.t0 + moved[0].at_ms / 1000
        # Watch what the bot does with the call it no longer owns.
        await ctx.quiet(max(ctx.config.settle_s, 4.0))
    return run
