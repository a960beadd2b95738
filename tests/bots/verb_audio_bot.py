"""A bot without Pipecat whose BXML plays sound: ``<SpeakSentence>`` and two ``<PlayAudio>``.

Its answer to the ``initiate`` webhook, in order:

- ``<StartStream name="monitor" tracks="outbound">``: a unidirectional stream that hears
  the call's outbound track (what the caller hears);
- ``<SpeakSentence>`` of three words (bwsim plays its placeholder tone);
- ``<PlayAudio>/audio/hold.wav</PlayAudio>``: served by this bot, :data:`HOLD_S` seconds
  of a 1 kHz tone, as a 16 kHz WAV (bwsim resamples it to 8 kHz);
- ``<PlayAudio>`` of a file this bot does not have (it answers 404);
- ``<Hangup/>``.

Every message the ``monitor`` socket receives is kept in :data:`SEEN`.
Serve in-process (``simulator.runner.servers.serve(verb_audio_bot.app)``).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import soundfile as sf
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

SPOKEN = "one two three"
HOLD_S = 1.5
"""How long ``/audio/hold.wav`` lasts."""
HOLD_HZ = 1000.0
MISSING = "https://cdn.example.com/audio/missing.mp3"
"""A file the bot does not serve: bwsim maps it to the bot, which answers 404."""

SEEN: dict[str, list[dict[str, Any]]] = {"monitor": []}

app = FastAPI()


def _hold_wav() -> bytes:
    rate = 16_000
    t = np.arange(round(HOLD_S * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * np.sin(2 * np.pi * HOLD_HZ * t), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@app.post("/")
async def initiate(request: Request) -> Response:
    await request.body()
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<StartStream name="monitor" tracks="outbound" destination="wss://bot.example/ws"/>'
        f"<SpeakSentence>{SPOKEN}</SpeakSentence>"
        "<PlayAudio>/audio/hold.wav</PlayAudio>"
        f"<PlayAudio>{MISSING}</PlayAudio>"
        "<Hangup/></Response>"
    )
    return Response(xml, media_type="application/xml")


@app.get("/audio/hold.wav")
async def hold() -> Response:
    return Response(_hold_wav(), media_type="audio/wav")


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    SEEN["monitor"].clear()
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            SEEN["monitor"].append(message)
            if message.get("eventType") == "stop":
                await websocket.close(code=1000)
                return
    except WebSocketDisconnect:
        return
