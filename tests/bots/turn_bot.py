"""A bot whose timing is known: it answers each caller turn after a set delay, by echoing it.

No Pipecat: a FastAPI webhook (Basic auth, one-time token, as the guide's bot) and a raw
media WebSocket, so the bot's own timing is exact and cheap enough for load tests and
for measuring bwsim's measurements (``benchmarks/accuracy.py``):

- ``TURN_BOT_GREETING_MS`` (500) after ``start`` it plays a 600 ms 440 Hz greeting;
- a caller turn ends at the first silent frame after speech (energy of the μ-law frame),
  confirmed after 200 ms of silence; ``TURN_BOT_REPLY_MS`` (700) after that first silent
  frame arrived, it sends the caller's own turn back, ``TURN_BOT_REPEAT`` (1) times over;
- a caller who starts talking while the bot is heard gets a ``clear``
  ``TURN_BOT_CLEAR_MS`` (200) after the first voiced frame arrived;
- ``TURN_BOT_MODE=mute`` never sends audio (the failing case of ``bwsim load``).

With ``TURN_BOT_TRUTH`` set to a file, it appends one JSON line per thing it did, with
the delay it really achieved (``delay_ms``) and when it sent it (``sent_at``,
``time.monotonic()``: CLOCK_MONOTONIC, the clock bwsim's call clock counts on, so the
two processes' times compare): the truth the benchmark compares bwsim's figures with.

Serve with ``--app tests.bots.turn_bot:app``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from simulator.protocol.codec import ulaw_decode, ulaw_encode
from tests.bots.guide_webhook import answer_webhook

app = FastAPI()
TOKENS: dict[str, tuple[str, str]] = {}
END_SILENT_FRAMES = 10
VOICED_RMS = 300.0


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _greeting() -> bytes:
    t = np.arange(4800) / 8000
    return ulaw_encode((np.sin(2 * np.pi * 440 * t) * 9000).astype(np.int16))


def _truth(record: dict[str, object]) -> None:
    path = os.environ.get("TURN_BOT_TRUTH")
    if path:
        with Path(path).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


@app.post("/")
async def webhook(request: Request) -> Response:
    return await answer_webhook(request, TOKENS)


class Turns:
    """One call's turn-taking, driven by the frames as they arrive."""

    def __init__(self, websocket: WebSocket, call_id: str) -> None:
        self.ws = websocket
        self.call_id = call_id
        self.mute = os.environ.get("TURN_BOT_MODE", "echo") == "mute"
        self.reply_s = _setting("TURN_BOT_REPLY_MS", 700) / 1000
        self.clear_s = _setting("TURN_BOT_CLEAR_MS", 200) / 1000
        self.repeat = int(_setting("TURN_BOT_REPEAT", 1))
        self.speaking_until = 0.0
        self.in_speech = False
        self.silent_run = 0
        self.first_silent_at = 0.0
        self.audio = bytearray()
        self.turn = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def later(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def play(self, origin: float, delay_s: float, ulaw: bytes, kind: str) -> None:
        await asyncio.sleep(max(0.0, origin + delay_s - time.monotonic()))
        if self.mute:
            return
        message = {
            "eventType": "playAudio",
            "media": {"contentType": "audio/pcmu", "payload": base64.b64encode(ulaw).decode()},
        }
        await self.ws.send_text(json.dumps(message))
        sent = time.monotonic()
        self.speaking_until = max(self.speaking_until, sent) + len(ulaw) / 8000
        _truth({"call": self.call_id, "kind": kind, "turn": self.turn, "sent_at": sent,
                "origin_at": origin, "delay_ms": (sent - origin) * 1000,
                "audio_ms": len(ulaw) / 8})  # fmt: skip

    async def clear(self, origin: float) -> None:
        await asyncio.sleep(max(0.0, origin + self.clear_s - time.monotonic()))
        await self.ws.send_text('{"eventType": "clear"}')
        sent = time.monotonic()
        self.speaking_until = sent
        _truth({"call": self.call_id, "kind": "clear", "turn": self.turn, "sent_at": sent,
                "origin_at": origin, "delay_ms": (sent - origin) * 1000})  # fmt: skip

    def frame(self, ulaw: bytes, now: float) -> None:
        samples = ulaw_decode(ulaw).astype(np.float64)
        voiced = float(np.sqrt(np.mean(samples * samples))) >= VOICED_RMS
        if voiced:
            if not self.in_speech:
                self.in_speech = True
                self.turn += 1
                self.audio = bytearray()
                if now < self.speaking_until and not self.mute:
                    self.later(self.clear(now))
            self.silent_run = 0
            self.audio += ulaw
            return
        if not self.in_speech:
            return
        if self.silent_run == 0:
            self.first_silent_at = now
        self.silent_run += 1
        if self.silent_run >= END_SILENT_FRAMES:
            self.in_speech = False
            self.later(self.play(self.first_silent_at, self.reply_s, bytes(self.audio) *
                                 self.repeat, "reply"))  # fmt: skip


@app.websocket("/ws/{token}")
async def ws(websocket: WebSocket, token: str) -> None:
    trusted = TOKENS.pop(token, None)
    if trusted is None:
        await websocket.close(code=1008)
        return
    call_id, _account_id = trusted
    await websocket.accept()
    turns = Turns(websocket, call_id)
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            now = time.monotonic()
            event = message.get("eventType")
            if event == "start":
                greeting_s = _setting("TURN_BOT_GREETING_MS", 500) / 1000
                turns.later(turns.play(now, greeting_s, _greeting(), "greeting"))
            elif event == "media":
                turns.frame(base64.b64decode(message["payload"]), now)
            elif event == "stop":
                break
    except WebSocketDisconnect:
        pass
    finally:
        for task in list(turns.tasks):
            task.cancel()
