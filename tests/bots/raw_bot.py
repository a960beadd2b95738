"""A bot without Pipecat that speaks Bandwidth's media protocol by hand, for call-side tests.

Its behaviour is chosen per call by the webhook path, so one server serves every test:
``POST /{behaviour}?keepalive=pause|stopstream|none&mode=bidirectional|unidirectional``.
The BXML streams to ``/ws/{behaviour}/{token}``; on the socket the bot then:

- ``listen``: reads until ``stop``, then closes;
- ``burst-clear``: sends 2 s of audio in one ``playAudio`` and a ``clear`` at once;
- ``tone``: sends 1 s of a 1 kHz tone in 20 ms ``audio/pcmu`` frames as fast as it can;
- ``late-tone``: the same, :data:`LATE_TONE_S` after ``start`` (never sooner);
- ``pcm24``: sends 0.5 s of PCM at 24 kHz;
- ``garbage``: sends one frame breaking each rule of the media protocol;
- ``close-early``: closes with 1000 as soon as ``start`` arrives (the call stays up);
- ``refuse``: closes with 1008 before accepting.

Everything the bot receives is kept in :data:`SEEN` (webhook bodies, ``start`` frames,
media counts) and served at ``GET /_seen``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from simulator.protocol.codec import ulaw_encode

SEEN: dict[str, list[Any]] = {"webhooks": [], "starts": [], "media": [], "stops": []}
TOKENS: dict[str, str] = {}

app = FastAPI()


LATE_TONE_S = 0.3
"""How long ``late-tone`` waits after ``start`` before it speaks."""


def tone(seconds: float, rate: int = 8000, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)


def play(payload: bytes, content_type: str = "audio/pcmu") -> str:
    return json.dumps(
        {
            "eventType": "playAudio",
            "media": {"contentType": content_type, "payload": base64.b64encode(payload).decode()},
        }
    )


@app.get("/_seen")
async def seen() -> JSONResponse:
    return JSONResponse(SEEN)


@app.post("/events/{kind}")
async def events(kind: str, request: Request) -> Response:
    SEEN["webhooks"].append({"path": kind, "body": await request.json()})
    return Response(status_code=204)


HANGUP_BXML = '<?xml version="1.0"?><Response><Hangup/></Response>'


@app.post("/redirected")
async def redirected(request: Request) -> Response:
    SEEN["webhooks"].append({"path": "redirected", "body": await request.json()})
    return Response(
        '<?xml version="1.0"?><Response><Hangup/></Response>', media_type="application/xml"
    )


@app.post("/gathered")
async def gathered(request: Request) -> Response:
    SEEN["webhooks"].append({"path": "gathered", "body": await request.json()})
    return Response(
        '<?xml version="1.0"?><Response><Hangup/></Response>', media_type="application/xml"
    )


@app.post("/no-challenge")
async def no_challenge(request: Request) -> Response:
    return Response(status_code=401)  # no WWW-Authenticate: Bandwidth loses the callback


@app.post("/bad-bxml")
async def bad_bxml(request: Request) -> Response:
    xml = '<?xml version="1.0"?>\n<Response>\n  <Pause duration="forever"/>\n</Response>'
    return Response(xml, media_type="application/xml")


@app.post("/gather")
async def gather(request: Request) -> Response:
    """``<Gather>`` posting to ``/gathered``; query parameters set its attributes.

    ``max`` (default 3), ``term`` (default ``#``), ``first`` (firstDigitTimeout), ``inter``
    (interDigitTimeout), ``repeat`` (repeatCount) and ``prompt`` (a nested
    ``<SpeakSentence>``).
    """
    SEEN["webhooks"].append({"path": "initiate", "body": await request.json()})
    q = request.query_params
    attrs = f'maxDigits="{q.get("max", "3")}" terminatingDigits="{q.get("term", "#")}"'
    for name, key in (("firstDigitTimeout", "first"), ("interDigitTimeout", "inter")):
        if key in q:
            attrs += f' {name}="{q[key]}"'
    if "repeat" in q:
        attrs += f' repeatCount="{q["repeat"]}"'
    prompt = f"<SpeakSentence>{q['prompt']}</SpeakSentence>" if "prompt" in q else ""
    xml = (
        f'<?xml version="1.0"?><Response><Gather gatherUrl="/gathered" {attrs}>{prompt}'
        "</Gather></Response>"
    )
    return Response(xml, media_type="application/xml")


@app.post("/start-gather")
async def start_gather(request: Request) -> Response:
    """``<StartGather>`` to ``/events/dtmf`` for 2 s, then ``<StopGather>`` and a long pause."""
    SEEN["webhooks"].append({"path": "initiate", "body": await request.json()})
    xml = (
        '<?xml version="1.0"?><Response><StartGather dtmfUrl="/events/dtmf"/>'
        '<Pause duration="2"/><StopGather/><Pause duration="60"/></Response>'
    )
    return Response(xml, media_type="application/xml")


@app.post("/{behaviour}")
async def webhook(behaviour: str, request: Request) -> Response:
    body = await request.json()
    SEEN["webhooks"].append({"path": "initiate", "body": body})
    token = secrets.token_urlsafe(16)
    TOKENS[token] = body["callId"]
    keepalive = request.query_params.get("keepalive", "pause")
    mode = request.query_params.get("mode", "bidirectional")
    verbs = {
        "pause": '<Pause duration="86400"/>',
        "stopstream": '<StopStream name="bot" wait="true"/>',
        "none": "",
    }[keepalive]
    events = request.query_params.get("events")
    extra = ' streamEventUrl="/events/stream"' if events else ""
    # ?dtmf=1: every key the caller presses comes to /events/dtmf as a dtmf webhook.
    listen = '<StartGather dtmfUrl="/events/dtmf"/>' if request.query_params.get("dtmf") else ""
    if request.query_params.get("wsauth"):
        extra += ' destinationUsername="ws-user" destinationPassword="ws-pass"'
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{listen}'
        f'<StartStream name="bot" mode="{mode}" destination="wss://bot.example/ws/{behaviour}/{token}"'
        f'{extra}><StreamParam name="k" value="v"/></StartStream>{verbs}</Response>'
    )
    return Response(xml, media_type="application/xml")


@app.websocket("/ws/{behaviour}/{token}")
async def ws(websocket: WebSocket, behaviour: str, token: str) -> None:
    if behaviour == "refuse" or TOKENS.pop(token, None) is None:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    start = json.loads(await websocket.receive_text())
    start["_authorization"] = websocket.headers.get("authorization")
    SEEN["starts"].append(start)
    call_id = start["metadata"]["callId"]
    if behaviour == "close-early":
        await websocket.close(code=1000)
        return
    if behaviour == "burst-clear":
        await websocket.send_text(play(ulaw_encode(tone(2.0))))
        await websocket.send_text(json.dumps({"eventType": "clear"}))
    elif behaviour in {"tone", "late-tone"}:
        if behaviour == "late-tone":
            await asyncio.sleep(LATE_TONE_S)  # the bot's own slowness, the least it can be
        data = ulaw_encode(tone(1.0))
        for i in range(0, len(data), 160):
            await websocket.send_text(play(data[i : i + 160]))
    elif behaviour == "pcm24":
        pcm = tone(0.5, rate=24000).astype("<i2").tobytes()
        ct = "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"
        await websocket.send_text(play(pcm, ct))
    elif behaviour == "garbage":
        await websocket.send_bytes(b"\x00\x01binary")
        await websocket.send_text("{not json")
        await websocket.send_text(json.dumps({"eventType": "mark"}))
        await websocket.send_text(
            json.dumps(
                {"eventType": "playAudio", "media": {"contentType": "audio/mp3", "payload": ""}}
            )
        )
        await websocket.send_text(
            json.dumps(
                {"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": "!!"}}
            )
        )
        ct = "audio/pcm;rate=8000;channels=1;bit-depth=16;endian=little;encoding=signed"
        await websocket.send_text(play(b"\x01\x02\x03", ct))
    media = 0
    try:
        while True:
            message = json.loads(await asyncio.wait_for(websocket.receive_text(), 30))
            if message["eventType"] == "media":
                media += 1
                if media <= 3:
                    SEEN["media"].append(message)
            elif message["eventType"] == "stop":
                SEEN["stops"].append({"callId": call_id, "media": media, "stop": message})
                await websocket.close(code=1000)
                return
    except (WebSocketDisconnect, TimeoutError):
        SEEN["stops"].append({"callId": call_id, "media": media, "stop": None})
