"""Smoke: the reference bot greets a raw media socket, in either outbound encoding.

Driven exactly as Bandwidth drives it, with no simulator in between: an authenticated
webhook, then ``/ws/<token>`` with the websockets client, a ``start`` frame and 20 ms
frames of μ-law silence in real time. The first ``playAudio`` must carry the configured
content type and real audio. Startup and greeting times are printed (``-rP`` shows
them), never asserted: the machines are shared.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from bot.app import create_app
from tests.integration.bandwidth_client import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    is_play_audio,
    mint_token,
    open_media,
)
from tests.integration.bot_process import bot_process
from tests.integration.bot_under_test import SETTINGS, running

PCM24K = "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"


async def first_play_audio(base: str) -> tuple[float, dict[str, Any]]:
    """Open a stream to the bot; the first playAudio and when it came after the open."""
    token = await mint_token(base)
    async with open_media(base, token) as media:
        await media.start()
        return await media.wait_for(is_play_audio, 10)


async def test_python_m_bot_greets_over_a_raw_media_socket() -> None:
    """``python -m bot`` (no keys, no network) answers a stream with μ-law greeting audio."""
    env = {
        "PROXY_HOST": "bot.example",
        "BANDWIDTH_WEBHOOK_USERNAME": WEBHOOK_USER,
        "BANDWIDTH_WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
    }
    with bot_process(env) as bot:
        at, event = await first_play_audio(bot.base_url)
    print(f"python -m bot: listening {bot.startup_s:.2f} s after spawn")
    print(f"python -m bot: first playAudio {at * 1000:.0f} ms after the socket opened")
    assert event["media"]["contentType"] == "audio/pcmu"
    assert base64.b64decode(event["media"]["payload"], validate=True)


@pytest.mark.parametrize(("encoding", "content_type"), [("pcmu", "audio/pcmu"), ("pcm24k", PCM24K)])
async def test_greeting_comes_in_the_configured_encoding(encoding: str, content_type: str) -> None:
    """BOT_OUTBOUND_ENCODING picks μ-law 8 kHz or PCM 24 kHz playAudio."""
    async with running(create_app(replace(SETTINGS, outbound_encoding=encoding))) as base:
        at, event = await first_play_audio(base)
    print(f"{encoding}: first playAudio {at * 1000:.0f} ms after the socket opened")
    assert event["media"]["contentType"] == content_type
    payload = base64.b64decode(event["media"]["payload"], validate=True)
    assert payload
    if encoding == "pcm24k":
        assert len(payload) % 2 == 0  # whole 16-bit samples
