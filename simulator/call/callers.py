"""Ready-made caller scripts for :meth:`~simulator.runner.harness.Harness.place_call`."""

from __future__ import annotations

from simulator.call.live import Caller, LiveCall
from simulator.errors import CallTimeout
from simulator.protocol.codec import Pcm

__all__ = ["linger_caller"]

QUIET_TIMEOUT_MS = 120_000.0
"""Longest a caller waits for the bot to stop talking before giving up."""


def linger_caller(voice: Pcm | None, linger_ms: float) -> Caller:
    """Say ``voice`` once the stream is open, then hang up after ``linger_ms`` of bot quiet."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=15_000)
        if voice is not None and len(voice):
            await call.say(voice, "audio")
        while True:
            await _until_quiet(call)
            try:
                await call.wait_for("bot-speech-start", timeout_ms=linger_ms, after_ms=call.ms())
            except CallTimeout:
                return

    return caller


async def _until_quiet(call: LiveCall) -> None:
    events = call.recorder.timeline
    speaking = [e for e in events if e.kind in ("bot-speech-start", "bot-speech-end")]
    if speaking and speaking[-1].kind == "bot-speech-start":
        await call.wait_for(
            "bot-speech-end", timeout_ms=QUIET_TIMEOUT_MS, after_ms=speaking[-1].at_ms
        )
