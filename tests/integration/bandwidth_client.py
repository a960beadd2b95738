"""Play Bandwidth against a bot with real clients: the webhook over httpx, media over websockets.

Small on purpose: the security and smoke tests of the reference bot need to send exactly
what they choose (forged ids, bad first frames, a token twice), which a full call
simulation would not let them do. Media goes out on an absolute 20 ms clock, μ-law
silence unless speech is queued, as Bandwidth sends it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import soxr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulator.standins import espeak
from tests.conftest import MS

WEBHOOK_USER = "hook-user"
WEBHOOK_PASSWORD = "hook-password"
BODY = {"eventType": "initiate", "callId": "c-1234", "accountId": "9900000"}
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
SILENCE = b"\xff" * FRAME_SAMPLES  # μ-law zero


def basic(user: str, password: str) -> str:
    """A Basic ``Authorization`` header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


GOOD_AUTH = basic(WEBHOOK_USER, WEBHOOK_PASSWORD)


async def post_webhook(
    base: str, body: Any = None, *, auth: str | None = GOOD_AUTH, content: bytes | None = None
) -> httpx.Response:
    """POST a call webhook to the bot (JSON ``body``, or raw ``content``)."""
    headers = {"Authorization": auth} if auth else {}
    async with httpx.AsyncClient(timeout=5) as client:
        if content is not None:
            return await client.post(base + "/", content=content, headers=headers)
        return await client.post(base + "/", json=BODY if body is None else body, headers=headers)


def destination(bxml: str) -> str:
    """The ``<StartStream>`` destination in a BXML answer."""
    match = re.search(r'<StartStream [^>]*destination="([^"]+)"', bxml)
    assert match, f"no StartStream destination in {bxml!r}"
    return match[1]


def token_of(bxml: str) -> str:
    """The stream token in a BXML answer's destination."""
    return destination(bxml).rsplit("/ws/", 1)[1]


async def mint_token(base: str, call_id: str = "c-1234", account_id: str = "9900000") -> str:
    """Have the bot mint a stream token through an authenticated webhook."""
    body = {"eventType": "initiate", "callId": call_id, "accountId": account_id}
    r = await post_webhook(base, body)
    assert r.status_code == 200, r.text
    return token_of(r.text)


def ws_url(base: str, token: str) -> str:
    """The bot's media socket URL for ``token``."""
    return base.replace("http://", "ws://", 1) + f"/ws/{token}"


async def refusal(base: str, token: str) -> str | None:
    """How the bot refused a media socket with ``token`` (None: it accepted it).

    A close before accept reaches a real client through uvicorn as HTTP 403 on the
    upgrade; a close 1008 right after accepting is the other form.
    """
    try:
        async with connect(ws_url(base, token), proxy=None, open_timeout=5) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 300 * MS)
            except TimeoutError:
                return None  # open and quiet: accepted (no start sent yet)
            except ConnectionClosed as exc:
                return f"closed {exc.rcvd.code if exc.rcvd else None}"
            return None
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"


def ulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 μ-law (ITU-T G.711 §3.2), for 16-bit linear samples."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
    return encoded


def speech(text: str) -> bytes:
    """``text`` spoken by espeak-ng, as 8 kHz μ-law (what a caller sends)."""
    audio = soxr.resample(espeak.synthesize(text), espeak.SAMPLE_RATE, 8000)
    return ulaw_encode(np.asarray(audio))


def start_frame(
    stream_id: str = "s-0001", call_id: str = "c-forged", account_id: str = "9900000"
) -> str:
    """A Bandwidth ``start`` frame (the ids in it are whatever the sender claims)."""
    return json.dumps(
        {
            "eventType": "start",
            "metadata": {
                "accountId": account_id,
                "callId": call_id,
                "streamId": stream_id,
                "streamName": "bot",
                "tracks": [
                    {"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}
                ],
            },
        }
    )


class MediaStream:
    """One media socket as Bandwidth drives it: ``start``, then media every 20 ms."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.opened = time.monotonic()
        self.received: list[tuple[float, dict[str, Any]]] = []
        self._queued = bytearray()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, frame: str | None = None) -> None:
        await self.ws.send(frame or start_frame())
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]

    def say(self, ulaw: bytes) -> None:
        """Queue caller speech; it replaces silence frame by frame."""
        self._queued += ulaw

    async def _send(self) -> None:
        t0, seq = time.monotonic(), 0
        try:
            while True:
                chunk = bytes(self._queued[:FRAME_SAMPLES]).ljust(FRAME_SAMPLES, SILENCE[:1])
                del self._queued[:FRAME_SAMPLES]
                seq += 1
                media = {
                    "eventType": "media",
                    "track": "inbound",
                    "sequenceNumber": str(seq),
                    "payload": base64.b64encode(chunk).decode(),
                }
                await self.ws.send(json.dumps(media))
                await asyncio.sleep(max(0.0, t0 + seq * 0.02 - time.monotonic()))
        except ConnectionClosed:
            return

    async def _receive(self) -> None:
        try:
            async for message in self.ws:
                self.received.append((time.monotonic() - self.opened, json.loads(message)))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self._changed.set()

    @property
    def closed(self) -> bool:
        return self._tasks[1].done() if self._tasks else False

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> tuple[float, dict[str, Any]]:
        """The first received event matching ``predicate`` (seconds after open, event).

        Waits on each new message; fails, saying what arrived, if the socket closes first
        or nothing matches within ``timeout_s`` (which only stops a test that would hang).
        """
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    for at, event in self.received:
                        if predicate(event):
                            return at, event
                    if self.closed:
                        raise AssertionError(f"the socket closed; received {self.events()}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            name = getattr(predicate, "__name__", "the awaited event")
            msg = f"no {name} from the bot within {timeout_s:g} s; received {self.events()}"
            raise AssertionError(msg) from None

    async def wait_closed(self, timeout_s: float) -> None:
        """Wait for the socket to close; TimeoutError, saying so, if the bot keeps it open."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.ws.wait_closed()
        except TimeoutError:
            msg = f"the bot kept the socket open {timeout_s:g} s; received {self.events()}"
            raise TimeoutError(msg) from None

    def events(self) -> list[str]:
        return [e.get("eventType", "?") for _, e in self.received]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()


@asynccontextmanager
async def open_media(base: str, token: str) -> AsyncIterator[MediaStream]:
    """A media socket to the bot (not started yet: call ``start``)."""
    async with connect(ws_url(base, token), proxy=None, open_timeout=5) as ws:
        stream = MediaStream(ws)
        try:
            yield stream
        finally:
            await stream.aclose()


def is_play_audio(event: dict[str, Any]) -> bool:
    """Whether a bot event is ``playAudio``."""
    return event.get("eventType") == "playAudio"
