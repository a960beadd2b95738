"""A plain bot for the capture proxy's tests: checks Basic credentials, logs what it gets.

Every webhook must carry the Basic credentials bwsim gives its bots
(``BANDWIDTH_WEBHOOK_USERNAME``/``PASSWORD``), else 401 with a Basic challenge, as the
guide's bot does. ``initiate`` is answered with a ``<StartStream>`` to
``wss://$PROXY_HOST/ws/media`` (absolute, with a ``&amp;`` query, a ``streamEventUrl``
and a ``<StreamParam>``), then a long ``<Pause>``. On the socket it answers the ``start``
frame with one second of a 1 kHz tone in one ``playAudio``.

Each webhook (path, headers, body) is appended to ``$RECORD_BOT_DIR/webhooks.jsonl`` and
the ``start`` frame's text written to ``$RECORD_BOT_DIR/start.json``, before the answer:
what the bot got through the proxy, to compare with the archive. With
``RECORD_BOT_HANGUP=1`` it hangs up through the Voice API once it has sent its tone: a
token from ``$BANDWIDTH_OAUTH_URL``, then ``{"state": "completed"}`` to the call at
``$BANDWIDTH_VOICE_API_URL``.

Serve with ``--app tests.bots.record_bot:app``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from simulator.protocol.codec import ulaw_encode

app = FastAPI()
TONE = (np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 12000).astype(np.int16)


def _out() -> Path:
    path = Path(os.environ.get("RECORD_BOT_DIR", "."))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _authorized(request: Request) -> bool:
    user = os.environ.get("BANDWIDTH_WEBHOOK_USERNAME", "")
    password = os.environ.get("BANDWIDTH_WEBHOOK_PASSWORD", "")
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return bool(user) and request.headers.get("authorization") == expected


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def webhook(request: Request, path: str) -> Response:
    """Every callback: 401 without the right credentials, BXML for ``initiate``."""
    if not _authorized(request):
        return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bot"'})
    body = (await request.body()).decode()
    with (_out() / "webhooks.jsonl").open("a", encoding="utf-8") as fh:
        record = {
            "path": request.url.path,
            "query": request.url.query,
            "headers": request.headers.items(),
            "body": body,
        }
        fh.write(json.dumps(record) + "\n")
    event = json.loads(body).get("eventType") if body.startswith("{") else None
    if event != "initiate":
        return Response(status_code=204)
    host = os.environ.get("PROXY_HOST", "")
    bxml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
        f'  <StartStream name="rec" destination="wss://{host}/ws/media?a=1&amp;b=2"'
        f' streamEventUrl="https://{host}/stream-events" mode="bidirectional">'
        '<StreamParam name="who" value="record-bot"/></StartStream>\n'
        '  <Pause duration="60"/>\n</Response>\n'
    )
    return Response(bxml, media_type="application/xml")


@app.websocket("/ws/media")
async def media(websocket: WebSocket) -> None:
    """Answer the ``start`` frame with a second of tone; take every frame until the close."""
    await websocket.accept()
    try:
        start = await websocket.receive_text()
        (_out() / "start.json").write_text(start, encoding="utf-8")
        payload = base64.b64encode(ulaw_encode(TONE)).decode()
        play = {
            "eventType": "playAudio",
            "media": {"contentType": "audio/PCMU", "payload": payload},
        }
        await websocket.send_text(json.dumps(play))
        if os.environ.get("RECORD_BOT_HANGUP") == "1":
            await _hang_up(json.loads(start)["metadata"])
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        return


async def _hang_up(metadata: dict[str, str]) -> None:
    """Hang the call up through the Voice API, as a bot does at the end of a conversation."""
    env = os.environ
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await client.post(
            env["BANDWIDTH_OAUTH_URL"],
            auth=(env["BANDWIDTH_CLIENT_ID"], env["BANDWIDTH_CLIENT_SECRET"]),
            data={"grant_type": "client_credentials"},
        )
        bearer = token.json()["access_token"]
        url = (
            f"{env['BANDWIDTH_VOICE_API_URL']}/accounts/{metadata['accountId']}"
            f"/calls/{metadata['callId']}"
        )
        await client.post(
            url, json={"state": "completed"}, headers={"Authorization": f"Bearer {bearer}"}
        )
