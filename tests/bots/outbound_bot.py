"""A bot without Pipecat that dials out, for outbound calls (docs/bandwidth.md §4.7, §2.4).

- ``POST /dial`` fetches an OAuth token and creates a call through the Voice API at
  :data:`CONFIG` ``api_base``, with ``answerUrl`` and ``disconnectUrl`` on its own public
  host (``https://bot.example``), which bwsim maps back to it on loopback;
- ``POST /answer`` answers with a bidirectional ``<StartStream>`` and a long ``<Pause>``;
- on its socket, when the callee first speaks it plays one second of a 1 kHz tone
  (:data:`TONE_ULAW`); when the callee speaks again it hangs up through the Voice API;
- ``POST /disconnect`` keeps the body.

Everything it receives is kept in :data:`SEEN`. Serve in-process
(``simulator.runner.servers.serve(outbound_bot.app)``) after filling :data:`CONFIG`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from simulator.protocol.codec import ulaw_encode
from simulator.protocol.media import SILENT_FRAME

CONFIG: dict[str, str] = {}
"""``api_base``, ``client_id``, ``client_secret``, ``account_id``, ``application_id``."""
SEEN: dict[str, Any] = {"webhooks": [], "socket": [], "created": [], "hangups": []}
_SILENT_PAYLOAD = base64.b64encode(SILENT_FRAME).decode()
TONE_ULAW = ulaw_encode(
    (np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 12000).astype(np.int16)
)
"""What the bot says: 1 s of a 1 kHz tone, μ-law."""
PUBLIC = "https://bot.example"

app = FastAPI()


def reset(**config: str) -> None:
    """Forget everything seen and take a new configuration (each test starts clean)."""
    for value in SEEN.values():
        value.clear()
    CONFIG.clear()
    CONFIG.update(config)


async def _token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        CONFIG["api_base"] + "/api/v1/oauth2/token",
        auth=(CONFIG["client_id"], CONFIG["client_secret"]),
        data={"grant_type": "client_credentials"},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@app.post("/dial")
async def dial(request: Request) -> Response:
    wanted = await request.json()
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await _token(client)
        response = await client.post(
            f"{CONFIG['api_base']}/api/v2/accounts/{CONFIG['account_id']}/calls",
            headers={"authorization": f"Bearer {token}"},
            json={
                "from": "+15555550111",
                "to": wanted["to"],
                "applicationId": CONFIG["application_id"],
                "answerUrl": PUBLIC + "/answer",
                "disconnectUrl": PUBLIC + "/disconnect",
            },
        )
    SEEN["created"].append({"status": response.status_code, "body": response.json()})
    return JSONResponse(response.json(), status_code=response.status_code)


@app.post("/nodial")
async def nodial() -> Response:
    """Says yes and dials nobody: a bot that never creates the call."""
    return JSONResponse({"ok": True})


@app.post("/answer")
async def answer(request: Request) -> Response:
    SEEN["webhooks"].append(await request.json())
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<StartStream name="callee" mode="bidirectional" destination="wss://bot.example/ws"/>'
        '<Pause duration="600"/></Response>'
    )
    return Response(xml, media_type="application/xml")


@app.post("/disconnect")
async def disconnect(request: Request) -> Response:
    SEEN["webhooks"].append(await request.json())
    return Response(status_code=204)


async def _hang_up(call_id: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await _token(client)
        response = await client.post(
            f"{CONFIG['api_base']}/api/v2/accounts/{CONFIG['account_id']}/calls/{call_id}",
            headers={"authorization": f"Bearer {token}"},
            json={"state": "completed"},
        )
    SEEN["hangups"].append(response.status_code)


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    speaking = False
    utterances = 0
    call_id = ""
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            SEEN["socket"].append(message)
            kind = message.get("eventType")
            if kind == "start":
                call_id = message["metadata"]["callId"]
            if kind == "stop":
                await websocket.close(code=1000)
                return
            if kind != "media" or message.get("track") != "inbound":
                continue
            voiced = message.get("payload") != _SILENT_PAYLOAD
            if voiced and not speaking:
                utterances += 1
                if utterances == 1:
                    media = {
                        "contentType": "audio/pcmu",
                        "payload": base64.b64encode(TONE_ULAW).decode(),
                    }
                    await websocket.send_text(
                        json.dumps({"eventType": "playAudio", "media": media})
                    )
                elif utterances == 2:
                    await _hang_up(call_id)
            speaking = voiced
    except WebSocketDisconnect:
        return
