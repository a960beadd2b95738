"""A bot without Pipecat that opens several media streams on one call, for the stream rules.

Its answer to the ``initiate`` webhook starts, in order:

- ``one``: ``tracks="inbound"``, bidirectional; when the caller's voice first arrives the
  bot answers on it with one second of a 1 kHz tone (:data:`TONE_ULAW`);
- ``two``: ``tracks="inbound"``, unidirectional;
- ``monitor``: ``tracks="outbound"``, unidirectional (it should hear the tone sent on
  ``one``, and never the caller);
- ``four``: ``tracks="inbound"``, stopped by a ``<StopStream name="four"/>`` later on;
- a second ``two`` (a duplicate name) to ``/ws/duplicate``;
- ``five``: one track too many (the four above hold the call's four tracks);

then ``<StopStream name="four"/>`` and a long ``<Pause>``. Every stream names
``/events`` as its ``streamEventUrl``. Everything it receives is kept in :data:`SEEN`:
the webhook bodies, and each socket's messages in arrival order with a global counter
(``order``), so a test can tell which stream stopped before which.

Serve in-process (``simulator.runner.servers.serve(multi_stream_bot.app)``).
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from simulator.protocol.codec import ulaw_encode
from simulator.protocol.media import SILENT_FRAME

SEEN: dict[str, Any] = {"webhooks": [], "sockets": {}}
_ORDER = itertools.count()
_SILENT_PAYLOAD = base64.b64encode(SILENT_FRAME).decode()
TONE_ULAW = ulaw_encode(
    (np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 12000).astype(np.int16)
)
"""What the bot says on stream ``one``: 1 s of a 1 kHz tone, μ-law."""

app = FastAPI()


def reset() -> None:
    """Forget everything seen (each test starts clean)."""
    SEEN["webhooks"].clear()
    SEEN["sockets"].clear()


def _stream(name: str, tracks: str, mode: str = "unidirectional", path: str = "") -> str:
    return (
        f'<StartStream name="{name}" tracks="{tracks}" mode="{mode}" '
        f'destination="wss://bot.example/ws/{path or name}" streamEventUrl="/events"/>'
    )


@app.post("/")
async def initiate(request: Request) -> Response:
    SEEN["webhooks"].append(await request.json())
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        + _stream("one", "inbound", "bidirectional")
        + _stream("two", "inbound")
        + _stream("monitor", "outbound")
        + _stream("four", "inbound")
        + _stream("two", "inbound", path="duplicate")
        + _stream("five", "inbound")
        + '<StopStream name="four"/><Pause duration="600"/></Response>'
    )
    return Response(xml, media_type="application/xml")


@app.post("/events")
async def events(request: Request) -> Response:
    SEEN["webhooks"].append(await request.json())
    return Response(status_code=204)


@app.websocket("/ws/{name}")
async def ws(websocket: WebSocket, name: str) -> None:
    await websocket.accept()
    received: list[dict[str, Any]] = []
    SEEN["sockets"][name] = received
    answered = False
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            message["order"] = next(_ORDER)
            received.append(message)
            if message.get("eventType") == "stop":
                await websocket.close(code=1000)
                return
            heard_caller = (
                message.get("eventType") == "media" and message.get("payload") != _SILENT_PAYLOAD
            )
            if name == "one" and heard_caller and not answered:
                answered = True
                media = {
                    "contentType": "audio/pcmu",
                    "payload": base64.b64encode(TONE_ULAW).decode(),
                }
                await websocket.send_text(json.dumps({"eventType": "playAudio", "media": media}))
    except WebSocketDisconnect:
        return
