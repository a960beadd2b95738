"""A bot that transfers its caller, recording every transfer webhook it is sent.

- ``POST /transfer`` (``initiate``): ``<Transfer transferCompleteUrl="/complete">`` to one
  ``<PhoneNumber transferAnswerUrl="/answer" transferDisconnectUrl="/disconnect">``;
- ``POST /answer`` (``transferAnswer``): a whisper to the agent, ``<SpeakSentence>``;
- ``POST /disconnect`` (``transferDisconnect``): 204;
- ``POST /complete`` (``transferComplete``): ``<Hangup/>``;
- ``POST /listen``: a bidirectional ``<StartStream>`` to ``/ws`` and a long ``<Pause>``,
  for tests that transfer through ``PUT …/bxml`` themselves.

Each transfer webhook is kept in :data:`SEEN` as ``(path, body)`` in arrival order.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

SEEN: list[tuple[str, dict[str, Any]]] = []
AGENT = "+15555550123"

app = FastAPI()

_XML = '<?xml version="1.0" encoding="UTF-8"?><Response>{}</Response>'


def _bxml(body: str) -> Response:
    return Response(_XML.format(body), media_type="application/xml")


async def _keep(path: str, request: Request) -> None:
    SEEN.append((path, json.loads(await request.body())))


def _refused(request: Request) -> Response | None:
    """A Basic challenge unless the webhook carries the credentials bwsim gave the bot.

    A bot bwsim starts gets ``BANDWIDTH_WEBHOOK_USERNAME``/``PASSWORD``; served in a
    test's own process it has none and checks nothing.
    """
    user, password = (os.environ.get(f"BANDWIDTH_WEBHOOK_{k}") for k in ("USERNAME", "PASSWORD"))
    if user is None or password is None:
        return None
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if request.headers.get("authorization") == expected:
        return None
    return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bot"'})


@app.post("/transfer")
async def transfer(request: Request) -> Response:
    """Answer the call with a transfer whose every webhook comes back here."""
    refused = _refused(request)
    if refused is not None:
        return refused
    return _bxml(
        '<Transfer transferCompleteUrl="/complete" transferCallerId="+15555550100">'
        f'<PhoneNumber transferAnswerUrl="/answer" transferDisconnectUrl="/disconnect">{AGENT}'
        "</PhoneNumber></Transfer>"
    )


@app.post("/answer")
async def answer(request: Request) -> Response:
    """The agent answered: whisper who is calling, then bridge."""
    await _keep("/answer", request)
    return _bxml("<SpeakSentence>A caller for you.</SpeakSentence>")


@app.post("/disconnect")
async def disconnect(request: Request) -> Response:
    """A B-leg ended."""
    await _keep("/disconnect", request)
    return Response(status_code=204)


@app.post("/complete")
async def complete(request: Request) -> Response:
    """The transfer is over: end the call."""
    await _keep("/complete", request)
    return _bxml("<Hangup/>")


@app.post("/listen")
async def listen() -> Response:
    """Open a stream and hold the call; the test transfers it through the Voice API."""
    return _bxml(
        '<StartStream name="bot" mode="bidirectional" destination="wss://bot.example/ws"/>'
        '<Pause duration="60"/>'
    )


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    """Read until ``stop`` or the close."""
    await websocket.accept()
    try:
        while json.loads(await websocket.receive_text()).get("event") != "stop":
            pass
    except WebSocketDisconnect:
        return
    await websocket.close()
