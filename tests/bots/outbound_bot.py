"""A bot without Pipecat that dials out, for outbound calls (docs/bandwidth.md §4.7, §2.4).

- ``POST /dial`` fetches an OAuth token and creates a call through the Voice API, with
  ``answerUrl`` and ``disconnectUrl`` on its own public host (``https://bot.example``),
  which bwsim maps back to it on loopback. Its settings come from :data:`CONFIG` when
  filled (a test serving it in-process), else from the variables bwsim gives the bots it
  starts (``BANDWIDTH_ACCOUNT_ID`` …), against Bandwidth's own hosts, which bwsim routes
  to its fake;
- ``POST /answer`` answers with a bidirectional ``<StartStream>`` and a long ``<Pause>``;
- on its socket, when the callee first speaks it plays one second of a 1 kHz tone
  (:data:`TONE_ULAW`); when the callee speaks again, after a pause of at least
  :data:`GAP_FRAMES` silent frames, it hangs up through the Voice API;
- ``POST /disconnect`` and ``POST /machine`` (a ``machineDetection.callbackUrl``) keep the
  body; ``/dial`` passes a ``machineDetection`` of its request on to Create Call.

Everything it receives is kept in :data:`SEEN`. Serve in-process
(``simulator.runner.servers.serve(outbound_bot.app)``) after filling :data:`CONFIG`, or
let bwsim start it (``--app tests.bots.outbound_bot:app``).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from simulator.protocol.codec import ulaw_encode
from simulator.protocol.media import SILENT_FRAME

CONFIG: dict[str, str] = {}
"""``api_base``, ``client_id``, ``client_secret``, ``account_id``, ``application_id``."""
_FROM_ENV = {
    "client_id": "BANDWIDTH_CLIENT_ID",
    "client_secret": "BANDWIDTH_CLIENT_SECRET",
    "account_id": "BANDWIDTH_ACCOUNT_ID",
    "application_id": "BANDWIDTH_APPLICATION_ID",
    "phone_number": "BANDWIDTH_PHONE_NUMBER",
}
SEEN: dict[str, Any] = {"webhooks": [], "socket": [], "created": [], "hangups": []}
_SILENT_PAYLOAD = base64.b64encode(SILENT_FRAME).decode()
TONE_ULAW = ulaw_encode(
    (np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 12000).astype(np.int16)
)
"""What the bot says: 1 s of a 1 kHz tone, μ-law."""
PUBLIC = "https://bot.example"
GAP_FRAMES = 25
"""Silent frames (20 ms each, 500 ms) that separate two utterances of the callee."""

app = FastAPI()


def reset(**config: str) -> None:
    """Forget everything seen and take a new configuration (each test starts clean)."""
    for value in SEEN.values():
        value.clear()
    CONFIG.clear()
    CONFIG.update(config)


def _conf(key: str) -> str:
    if key in CONFIG:
        return CONFIG[key]
    if key == "api_base":
        return ""
    return os.environ.get(_FROM_ENV[key], "+15555550111" if key == "phone_number" else "")


def _voice(path: str) -> str:
    base = _conf("api_base") or "https://voice.bandwidth.com"
    return f"{base}/api/v2/accounts/{_conf('account_id')}{path}"


async def _token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        (_conf("api_base") or "https://api.bandwidth.com") + "/api/v1/oauth2/token",
        auth=(_conf("client_id"), _conf("client_secret")),
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
            _voice("/calls"),
            headers={"authorization": f"Bearer {token}"},
            json={
                "from": _conf("phone_number"),
                "to": wanted["to"],
                "applicationId": _conf("application_id"),
                "answerUrl": PUBLIC + "/answer",
                "disconnectUrl": PUBLIC + "/disconnect",
                **(
                    {"machineDetection": wanted["machineDetection"]}
                    if "machineDetection" in wanted
                    else {}
                ),
            },
        )
    SEEN["created"].append({"status": response.status_code, "body": response.json()})
    return JSONResponse(response.json(), status_code=response.status_code)


@app.post("/dials-on-initiate")
async def dials_on_initiate(request: Request) -> Response:
    """An inbound call's initiate that dials out as well: a call nobody expects."""
    caller = (await request.json())["from"]
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await _token(client)
        await client.post(
            _voice("/calls"),
            headers={"authorization": f"Bearer {token}"},
            json={
                "from": _conf("phone_number"),
                "to": caller,
                "applicationId": _conf("application_id"),
                "answerUrl": PUBLIC + "/answer",
            },
        )
    xml = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
    return Response(xml, media_type="application/xml")


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


@app.post("/machine")
async def machine(request: Request) -> Response:
    SEEN["webhooks"].append(await request.json())
    return Response(status_code=204)


@app.post("/disconnect")
async def disconnect(request: Request) -> Response:
    SEEN["webhooks"].append(await request.json())
    return Response(status_code=204)


async def _hang_up(call_id: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await _token(client)
        response = await client.post(
            _voice(f"/calls/{call_id}"),
            headers={"authorization": f"Bearer {token}"},
            json={"state": "completed"},
        )
    SEEN["hangups"].append(response.status_code)


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    utterances = 0
    quiet_frames = GAP_FRAMES  # the call starts in silence
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
            if message.get("payload") == _SILENT_PAYLOAD:
                quiet_frames += 1
                continue
            if quiet_frames >= GAP_FRAMES:  # a new utterance
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
            quiet_frames = 0
    except WebSocketDisconnect:
        return
