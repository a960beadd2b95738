"""A bot that tries to take the harness down, one way per webhook path.

Serve with ``--app tests.bots.hostile_bot:app``. It checks no credentials (bwsim reports
``webhook-auth``; the tests allow that rule). By webhook path:

- ``POST /deep-bxml``: answers :data:`DEEP_BXML`, 63 KB nested 9,000 deep, which once
  raised ``RecursionError`` inside the harness;
- ``POST /flood``: streams to ``/ws/flood``, where the bot sends :data:`FLOOD_SECONDS` of
  audio in one-second ``playAudio`` frames as fast as it can, far more than real time,
  then closes with 1000;
- ``POST /garbage``: streams to ``/ws/garbage``, where the bot sends
  :data:`GARBAGE_FRAMES` frames that are not JSON, then closes with 1000;
- ``POST /clear-flood``: streams to ``/ws/clear-flood``, where the bot sends
  :data:`CLEAR_FLOOD` ``clear`` frames, then a second of ``playAudio``, then one more
  ``clear`` (the one a scenario forbids after the bot's first audio), then closes with 1000;
- ``POST /api-flood``: answers with a long ``<Pause>``, then sends :data:`API_FLOOD`
  ``GET``s of its call to the Voice API (hard-coded production URL, as real bots do) and
  hangs the call up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os

import httpx
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

__all__ = ["API_FLOOD", "CLEAR_FLOOD", "DEEP_BXML", "FLOOD_SECONDS", "GARBAGE_FRAMES", "app"]

DEEP_BXML = "<Response>\n" + "<a>" * 9_000 + "</a>" * 9_000 + "</Response>"
"""63 KB, under Bandwidth's 64 KB limit, with the 9,000-deep element on line 2."""
FLOOD_SECONDS = 150
"""Seconds of audio the flood sends at once: well past the harness's 60 s queue cap."""
GARBAGE_FRAMES = 50
"""Frames that are not JSON: past the 20 violations of one kind a call keeps."""
CLEAR_FLOOD = 1_200
"""``clear`` frames sent before any audio: past the 1,000 events of one kind a timeline keeps."""
API_FLOOD = 2_050
"""``GET``s of its own call: past the 2,000 requests of one route a call keeps in the journal."""

app = FastAPI()
_tasks: set[asyncio.Task[None]] = set()


def _stream_to(kind: str) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<StartStream name="bot" mode="bidirectional" destination="wss://bot.example/ws/{kind}"/>'
        '<Pause duration="86400"/></Response>'
    )
    return Response(xml, media_type="application/xml")


@app.post("/deep-bxml")
async def deep_bxml() -> Response:
    """Answer the initiate webhook with the 9,000-deep document."""
    return Response(DEEP_BXML, media_type="application/xml")


@app.post("/flood")
async def flood() -> Response:
    """Start a stream to the flooding socket."""
    return _stream_to("flood")


@app.post("/garbage")
async def garbage() -> Response:
    """Start a stream to the socket that sends frames that are not JSON."""
    return _stream_to("garbage")


@app.post("/clear-flood")
async def clear_flood() -> Response:
    """Start a stream to the socket that floods ``clear`` frames."""
    return _stream_to("clear-flood")


async def _flood_api(account_id: str, call_id: str) -> None:
    """Get a token, ask for the call :data:`API_FLOOD` times, then hang it up."""
    async with httpx.AsyncClient(timeout=10) as client:
        token = await client.post(
            "https://api.bandwidth.com/api/v1/oauth2/token",
            auth=(os.environ["BANDWIDTH_CLIENT_ID"], os.environ["BANDWIDTH_CLIENT_SECRET"]),
            data={"grant_type": "client_credentials"},
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        call = f"https://voice.bandwidth.com/api/v2/accounts/{account_id}/calls/{call_id}"
        for _ in range(API_FLOOD):
            await client.get(call, headers=headers)
        await client.post(call, json={"state": "completed"}, headers=headers)


@app.post("/api-flood")
async def api_flood(request: Request) -> Response:
    """Answer with a long pause, and flood the Voice API with requests about the call."""
    body = await request.json()
    task = asyncio.create_task(_flood_api(body["accountId"], body["callId"]))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    xml = '<?xml version="1.0" encoding="UTF-8"?><Response><Pause duration="86400"/></Response>'
    return Response(xml, media_type="application/xml")


@app.websocket("/ws/{kind}")
async def ws(websocket: WebSocket, kind: str) -> None:
    """Send the flood, the clears or the garbage right after ``start``, then close with 1000."""
    await websocket.accept()
    await websocket.receive_text()  # start
    second = base64.b64encode(b"\x7f" * 8000).decode()  # a second of μ-law silence
    frame = json.dumps(
        {"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": second}}
    )
    if kind == "flood":
        for _ in range(FLOOD_SECONDS):
            await websocket.send_text(frame)
    elif kind == "clear-flood":
        clear = json.dumps({"eventType": "clear"})
        for _ in range(CLEAR_FLOOD):
            await websocket.send_text(clear)
        await websocket.send_text(frame)
        await websocket.send_text(clear)
    else:
        for n in range(GARBAGE_FRAMES):
            await websocket.send_text(f"{{not json {n}")
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the caller hung up first
        await websocket.close(code=1000)
