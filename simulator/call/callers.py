"""Ready-made caller scripts for :meth:`~simulator.runner.harness.Harness.place_call`."""

from __future__ import annotations

import asyncio

from simulator.call.live import DTMF_GAP_MS, Caller, LiveCall
from simulator.call.recorder import TimelineEvent
from simulator.errors import CallTimeout
from simulator.protocol.codec import Pcm

__all__ = ["linger_caller"]

QUIET_TIMEOUT_MS = 120_000.0
"""Longest a caller waits for the bot to stop talking before giving up."""


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
