"""Bots for the packaged path scenarios (``simulator/suite/paths/``): each path right and wrong.

One app serves both kinds: every route is under ``/good/`` or ``/broken/``, and a test
points a packaged scenario file at one or the other with a file of its own that says
``extends: bwsim:paths/….yaml`` and sets the paths, as a user does for their bot. No
Pipecat: each bot does just what its path needs, with a 1 kHz tone as its voice.

- **disconnect** (``/{kind}/voice``, ``/{kind}/ws``, ``/{kind}/status``): a bidirectional
  ``<StartStream>`` and a long ``<Pause>``; on the socket it greets, and keeps an idle
  timer per call that hangs the call up through the Voice API :data:`IDLE_S` after the
  caller last spoke. The good bot cancels the timer when the ``disconnect`` webhook comes;
  the broken one answers it 204 and cleans up nothing, so its timer later hangs up a
  call that has ended (404).
- **outbound** (``/{kind}/dial``, ``/{kind}/answer``, ``/{kind}/callee``): ``/dial``
  creates the call with ``answerUrl`` on the bot's public host; ``/answer`` starts a
  bidirectional stream. The good bot greets when the stream starts. The broken one starts
  its conversation when it dials: its :data:`GREETING_S` greeting plays in real time
  from the dial, each piece sent if the call's socket is open by then, so a callee who
  answers after a long ring hears none of it.
- **dtmf** (``/{kind}/menu``, ``/{kind}/menu/gathered``): a one-key ``<Gather>`` menu with
  a 1 s ``firstDigitTimeout``. The good gather handler asks again at most
  :data:`MENU_TRIES` times in all, then says goodbye and hangs up; the broken one answers
  the same ``<Gather>`` every time, so a caller who presses nothing is held forever.

Let bwsim start it (``AppTarget("tests.bots.paths_bots:app")``): it reads the variables
bwsim gives every bot (``BANDWIDTH_CLIENT_ID`` …) and reaches Bandwidth's hosts, which
bwsim routes to its fake.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from simulator.protocol.codec import ulaw_encode
from simulator.protocol.media import SILENT_FRAME

KINDS = ("good", "broken")
PUBLIC = "https://bot.example"
IDLE_S = 5.0
"""The disconnect bot hangs up this long after the caller last spoke."""
GREETING_S = 3.0
"""How long the outbound bot's greeting lasts."""
MENU_TRIES = 3
"""How many times in all the good menu asks before it says goodbye."""
_PIECE_S = 0.1
_TONE = ulaw_encode(
    (np.sin(2 * np.pi * 1000 * np.arange(int(8000 * GREETING_S)) / 8000) * 12000).astype(np.int16)
)
_PIECE = int(8000 * _PIECE_S)
_SILENT_PAYLOAD = base64.b64encode(SILENT_FRAME).decode()
_XML = '<?xml version="1.0" encoding="UTF-8"?>'

app = FastAPI()
_idle_timers: dict[str, asyncio.Task[None]] = {}
_sockets: dict[str, WebSocket] = {}
_tries: dict[str, int] = {}
_background: set[asyncio.Task[None]] = set()


def _authorized(request: Request) -> bool:
    """Whether a webhook carries the application's Basic credentials (bwsim gives them)."""
    pair = f"{_env('BANDWIDTH_WEBHOOK_USERNAME')}:{_env('BANDWIDTH_WEBHOOK_PASSWORD')}"
    expected = "Basic " + base64.b64encode(pair.encode()).decode()
    return request.headers.get("authorization") == expected


_CHALLENGE = Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bot"'})


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise HTTPException(404, f"no bot {kind!r}; the bots are {KINDS}")
    return kind


def _bxml(body: str) -> Response:
    return Response(f"{_XML}<Response>{body}</Response>", media_type="application/xml")


def _stream(kind: str, path: str) -> Response:
    return _bxml(
        f'<StartStream name="bot" mode="bidirectional" destination="wss://bot.example/{kind}/'
        f'{path}"/><Pause duration="600"/>'
    )


def _spawn(coro: Any) -> asyncio.Task[None]:
    task: asyncio.Task[None] = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


async def _voice_api(
    method: str, path: str, body: dict[str, Any] | None = None, *, bxml: str | None = None
) -> httpx.Response:
    """A Voice API request (JSON ``body``, or ``bxml``) with a fresh OAuth token.

    Bandwidth's hosts are routed to bwsim.
    """
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await client.post(
            "https://api.bandwidth.com/api/v1/oauth2/token",
            auth=(_env("BANDWIDTH_CLIENT_ID"), _env("BANDWIDTH_CLIENT_SECRET")),
            data={"grant_type": "client_credentials"},
        )
        token.raise_for_status()
        headers = {"authorization": f"Bearer {token.json()['access_token']}"}
        if bxml is not None:
            headers["content-type"] = "application/xml"
        return await client.request(
            method,
            f"https://voice.bandwidth.com/api/v2/accounts/{path}",
            headers=headers,
            json=body,
            content=bxml,
        )


async def _play(websocket: WebSocket, ulaw: bytes) -> None:
    media = {"contentType": "audio/pcmu", "payload": base64.b64encode(ulaw).decode()}
    await websocket.send_text(json.dumps({"eventType": "playAudio", "media": media}))


# -- disconnect --------------------------------------------------------------------------


@app.post("/{kind}/voice")
async def voice(kind: str, request: Request) -> Response:
    if not _authorized(request):
        return _CHALLENGE
    return _stream(_kind(kind), "ws")


async def _idle_hangup(account_id: str, call_id: str, spoke: asyncio.Event) -> None:
    """Hang the call up once the caller has been quiet for :data:`IDLE_S`."""
    while True:
        try:
            await asyncio.wait_for(spoke.wait(), IDLE_S)
        except TimeoutError:
            break
        spoke.clear()
    await _voice_api("POST", f"{account_id}/calls/{call_id}", {"state": "completed"})


@app.websocket("/{kind}/ws")
async def ws(websocket: WebSocket, kind: str) -> None:
    await websocket.accept()
    spoke = asyncio.Event()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = json.loads(await websocket.receive_text())
            event = message.get("eventType")
            if event == "start":
                meta = message["metadata"]
                await _play(websocket, _TONE[:8000])
                timer = _idle_hangup(meta["accountId"], meta["callId"], spoke)
                _idle_timers[meta["callId"]] = _spawn(timer)
            elif event == "media" and message.get("payload") != _SILENT_PAYLOAD:
                spoke.set()
            elif event == "stop":
                return  # the timer is the disconnect handler's to cancel


@app.post("/{kind}/status")
async def status(kind: str, request: Request) -> Response:
    """The ``disconnect`` webhook: the good bot cancels the call's idle timer here."""
    if not _authorized(request):
        return _CHALLENGE
    body = await request.json()
    if _kind(kind) == "good":
        timer = _idle_timers.pop(str(body.get("callId")), None)
        if timer is not None:
            timer.cancel()
    return Response(status_code=204)


# -- outbound ----------------------------------------------------------------------------


async def _greet_from_the_dial(call_id: str) -> None:
    """The broken bot's greeting: played from the dial on, heard only once a socket is open.

    Each piece goes at its moment on the clock from the dial, so the greeting is over
    :data:`GREETING_S` after the dial however slow the machine is.
    """
    dialled = asyncio.get_running_loop().time()
    sent = -1
    while (elapsed := asyncio.get_running_loop().time() - dialled) < GREETING_S:
        piece = int(elapsed / _PIECE_S)
        websocket = _sockets.get(call_id)
        if websocket is not None and piece > sent:
            with contextlib.suppress(Exception):  # the socket may close meanwhile
                await _play(websocket, _TONE[piece * _PIECE : (piece + 1) * _PIECE])
        sent = piece
        await asyncio.sleep(_PIECE_S)


@app.post("/{kind}/dial")
async def dial(kind: str, request: Request) -> Response:
    _kind(kind)
    wanted = await request.json()
    response = await _voice_api(
        "POST",
        f"{_env('BANDWIDTH_ACCOUNT_ID')}/calls",
        {
            "from": _env("BANDWIDTH_PHONE_NUMBER", "+15555550111"),
            "to": wanted["to"],
            "applicationId": _env("BANDWIDTH_APPLICATION_ID"),
            "answerUrl": f"{PUBLIC}/{kind}/answer",
        },
    )
    if response.status_code == 201 and kind == "broken":
        _spawn(_greet_from_the_dial(response.json()["callId"]))
    return JSONResponse(response.json(), status_code=response.status_code)


@app.post("/{kind}/answer")
async def answer(kind: str) -> Response:
    return _stream(_kind(kind), "callee")


@app.websocket("/{kind}/callee")
async def callee(websocket: WebSocket, kind: str) -> None:
    await websocket.accept()
    call_id = ""
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            if message.get("eventType") == "start":
                call_id = message["metadata"]["callId"]
                _sockets[call_id] = websocket
                if kind == "good":
                    await _play(websocket, _TONE)
            elif message.get("eventType") == "stop":
                return
    except WebSocketDisconnect:
        return
    finally:
        _sockets.pop(call_id, None)


# -- dtmf --------------------------------------------------------------------------------


def _menu(kind: str) -> Response:
    return _bxml(
        f'<Gather gatherUrl="/{kind}/menu/gathered" maxDigits="1" firstDigitTimeout="1">'
        "<SpeakSentence>Press 1.</SpeakSentence></Gather>"
    )


@app.post("/{kind}/menu")
async def menu(kind: str, request: Request) -> Response:
    if not _authorized(request):
        return _CHALLENGE
    return _menu(_kind(kind))


@app.post("/{kind}/menu/gathered")
async def gathered(kind: str, request: Request) -> Response:
    """The gather webhook: the good menu gives up after :data:`MENU_TRIES` timeouts."""
    body = await request.json()
    call_id = str(body.get("callId"))
    _tries[call_id] = _tries.get(call_id, 0) + 1
    if _kind(kind) == "good" and (body.get("digits") or _tries[call_id] >= MENU_TRIES):
        return _bxml("<SpeakSentence>Goodbye.</SpeakSentence><Hangup/>")
    return _menu(kind)


# -- transfer ----------------------------------------------------------------------------

AGENT = "+15555550123"
"""The person the transfer bots hand the caller to."""
_transferred: set[str] = set()


@app.post("/{kind}/agent")
async def agent(kind: str, request: Request) -> Response:
    if not _authorized(request):
        return _CHALLENGE
    return _stream(_kind(kind), "agent-ws")


async def _transfer(kind: str, account_id: str, call_id: str) -> None:
    """Hand the caller to :data:`AGENT`; the broken bot then ends its session: it hangs up."""
    complete = f' transferCompleteUrl="{PUBLIC}/{kind}/agent/complete"' if kind == "good" else ""
    xml = f"<Bxml><Transfer{complete}><PhoneNumber>{AGENT}</PhoneNumber></Transfer></Bxml>"
    await _voice_api("PUT", f"{account_id}/calls/{call_id}/bxml", bxml=xml)
    if kind == "broken":
        await _voice_api("POST", f"{account_id}/calls/{call_id}", {"state": "completed"})


@app.websocket("/{kind}/agent-ws")
async def agent_ws(websocket: WebSocket, kind: str) -> None:
    """Greet; the first time the caller speaks in the call, hand them to :data:`AGENT`."""
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = json.loads(await websocket.receive_text())
            event = message.get("eventType")
            if event == "start":
                meta = message["metadata"]
                await _play(websocket, _TONE[:8000])
            elif event == "media" and message.get("payload") != _SILENT_PAYLOAD:
                if meta["callId"] not in _transferred:  # once a call: not again when back
                    _transferred.add(meta["callId"])
                    _spawn(_transfer(kind, meta["accountId"], meta["callId"]))
            elif event == "stop":
                return


@app.post("/{kind}/agent/complete")
async def agent_complete(kind: str, request: Request) -> Response:
    """transferComplete (the good bot only): a failed transfer brings the caller back.

    Bandwidth sends it with the ``<Transfer>``'s own credentials, and the bot gave none.
    """
    _kind(kind)
    if (await request.json()).get("cause") == "hangup":
        return _bxml("<Hangup/>")  # the person talked with the caller and hung up
    return _bxml(
        "<SpeakSentence>Sorry, nobody is free right now.</SpeakSentence>"
        f'<StartStream name="bot" mode="bidirectional" destination="wss://bot.example/{kind}/'
        'agent-ws"/><Pause duration="600"/>'
    )
