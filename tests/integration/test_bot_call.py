"""The reference bot under bwsim: it greets, and hangs its call up itself when the stream ends."""

from __future__ import annotations

import asyncio

import pytest

from simulator.call import CallOptions, LiveCall
from simulator.harness import Harness
from simulator.targets import AppTarget


async def _listen(call: LiveCall) -> None:
    await call.wait_for("bot-speech-end", timeout_ms=10_000)


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [
        ("pcmu", "audio/pcmu"),
        ("pcm24k", "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"),
    ],
)
async def test_bot_greets_and_hangs_up_its_call_when_the_stream_ends(
    encoding: str, content_type: str
) -> None:
    """The greeting is heard in the configured encoding; after the caller leaves, a 404 hang-up."""
    env = {"BOT_OUTBOUND_ENCODING": encoding}
    async with Harness(AppTarget("bot.app:app"), bot_env=env) as h:
        result = await h.place_call(_listen, options=CallOptions(max_call_s=30))
        for _ in range(100):
            if h.fake.journal.hangups(result.call_id):
                break
            await asyncio.sleep(0.05)
        hangups = h.fake.journal.hangups(result.call_id)
    assert result.streams[0].content_types == [content_type]
    assert result.streams[0].bot_audio_ms > 1000  # a whole sentence, not a click
    assert result.violations == []
    assert [e.status for e in hangups] == [404]  # the caller had already gone: harmless
