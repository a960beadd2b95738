"""Ready-made caller scripts for :meth:`~simulator.runner.harness.Harness.place_call`."""

from __future__ import annotations

import asyncio

from simulator.call.live import DTMF_GAP_MS, Caller, LiveCall
from simulator.call.recorder import TimelineEvent
from simulator.errors import CallTimeout
from simulator.protocol.codec import Pcm

__all__ = ["linger_caller", "turns_caller"]

QUIET_TIMEOUT_MS = 120_000.0
"""Longest a caller waits for the bot to stop talking before giving up."""
GREETING_WAIT_MS = 5_000.0
"""How long a turn-by-turn caller waits for the bot's greeting before speaking anyway."""


def linger_caller(
    voice: Pcm | None,
    linger_ms: float,
    *,
    dtmf: str | None = None,
    dtmf_gap_ms: float = DTMF_GAP_MS,
) -> Caller:
    """Say ``voice`` once the stream is open, then hang up after ``linger_ms`` of bot quiet.

    With ``dtmf`` the caller also presses those keys (one every ``dtmf_gap_ms``), once: as
    soon as a ``<Gather>`` starts if one starts before a stream opens (an IVR menu), else
    when the bot has first gone quiet after the stream opened (after its greeting).
    """

    async def caller(call: LiveCall) -> None:
        pending = dtmf
        kinds = ("stream-accepted", "gather-start") if pending else ("stream-accepted",)
        first = await _first_of(call, kinds, timeout_ms=15_000)
        if pending and first.kind == "gather-start":
            await call.press(pending, dtmf_gap_ms)
            pending = None
            await call.wait_for("stream-accepted", timeout_ms=15_000)
        if voice is not None and len(voice):
            await call.say(voice, "audio")
        while True:
            await _until_quiet(call)
            if pending:
                await call.press(pending, dtmf_gap_ms)
                pending = None
            try:
                await call.wait_for("bot-speech-start", timeout_ms=linger_ms, after_ms=call.ms())
            except CallTimeout:
                return

    return caller


def turns_caller(turns: list[Pcm], linger_ms: float, reply_timeout_ms: float = 15_000) -> Caller:
    """Say each turn once the bot has answered the one before, then hang up as lingering.

    The caller waits for the bot's greeting (up to :data:`GREETING_WAIT_MS`) and for it
    to end, says the first turn, waits for the bot to start answering (up to
    ``reply_timeout_ms``: a reply that never comes is a ``note`` on the timeline, and the
    next turn is said anyway) and to stop, and so on.
    """

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=15_000)
        try:
            await call.wait_for("bot-speech-start", timeout_ms=GREETING_WAIT_MS)
        except CallTimeout:
            call.recorder.event("note", detail="no greeting: the caller speaks first")
        for number, turn in enumerate(turns, start=1):
            await _until_quiet(call)
            await call.say(turn, f"turn {number}")
            if number == len(turns):
                break
            try:
                await call.wait_for(
                    "bot-speech-start", timeout_ms=reply_timeout_ms, after_ms=call.ms()
                )
            except CallTimeout:
                call.recorder.event(
                    "note",
                    detail=f"the bot did not answer turn {number} within "
                    f"{reply_timeout_ms:g} ms: turn {number + 1} is said anyway",
                )
        while True:
            await _until_quiet(call)
            try:
                await call.wait_for("bot-speech-start", timeout_ms=linger_ms, after_ms=call.ms())
            except CallTimeout:
                return

    return caller


async def _first_of(call: LiveCall, kinds: tuple[str, ...], timeout_ms: float) -> TimelineEvent:
    """The first of the events ``kinds`` (each waited for as :meth:`LiveCall.wait_for`)."""
    waits = [asyncio.ensure_future(call.wait_for(k, timeout_ms=timeout_ms)) for k in kinds]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def _until_quiet(call: LiveCall) -> None:
    events = call.recorder.timeline
    speaking = [e for e in events if e.kind in ("bot-speech-start", "bot-speech-end")]
    if speaking and speaking[-1].kind == "bot-speech-start":
        await call.wait_for(
            "bot-speech-end", timeout_ms=QUIET_TIMEOUT_MS, after_ms=speaking[-1].at_ms
        )
