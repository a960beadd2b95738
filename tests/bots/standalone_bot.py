"""A user's bot in one file: the guide's webhook and stream, needing nothing from this repository.

It stands for the bot in a new user's own project (``tests/e2e/test_installed_wheel.py``
copies it, alone, into an empty folder as ``theirbot.py``): FastAPI, Pipecat and
``pipecat-bandwidth`` only. The webhook checks Basic auth (401 with the challenge), refuses
a body without string ``callId``/``accountId`` (400), mints a one-time token bound to the
call and answers ``<StartStream>`` to ``wss://$PROXY_HOST/ws/{token}`` held up by
``<Pause>``. The socket runs ``BandwidthFrameSerializer`` in a
``FastAPIWebsocketTransport`` and greets the caller with one second of a 440 Hz tone.
It has no speech recognition: it answers nothing the caller says.

Serve with ``--app theirbot:app`` from the folder it is copied to.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import secrets
import struct

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import Response
from pipecat.frames.frames import OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner
from pipecat_bandwidth import BandwidthFrameSerializer

app = FastAPI()
TOKENS: dict[str, tuple[str, str]] = {}
IDS = re.compile(r"[A-Za-z0-9-]{1,64}")
TONE = b"".join(
    struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(8000)
)


@app.post("/")
async def webhook(request: Request) -> Response:
    user = os.environ["BANDWIDTH_WEBHOOK_USERNAME"]
    password = os.environ["BANDWIDTH_WEBHOOK_PASSWORD"]
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if not secrets.compare_digest(request.headers.get("authorization", ""), expected):
        raise HTTPException(401, headers={"WWW-Authenticate": "Basic"})
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400) from None
    if not isinstance(body, dict):
        raise HTTPException(400)
    call_id, account_id = body.get("callId"), body.get("accountId")
    if not all(isinstance(v, str) and IDS.fullmatch(v) for v in (call_id, account_id)):
        raise HTTPException(400)
    token = secrets.token_urlsafe(32)
    TOKENS[token] = (str(call_id), str(account_id))
    bxml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<StartStream destination="wss://{os.environ["PROXY_HOST"]}/ws/{token}" '
        'mode="bidirectional" tracks="inbound"/><Pause duration="86400"/></Response>'
    )
    return Response(bxml, media_type="application/xml")


@app.websocket("/ws/{token}")
async def ws(websocket: WebSocket, token: str) -> None:
    trusted = TOKENS.pop(token, None)
    if trusted is None:
        await websocket.close(code=1008)
        return
    call_id, account_id = trusted
    await websocket.accept()
    start = json.loads(await websocket.receive_text())
    serializer = BandwidthFrameSerializer(
        stream_id=start.get("metadata", {}).get("streamId", ""),
        call_id=call_id,
        account_id=account_id,
        client_id=os.environ["BANDWIDTH_CLIENT_ID"],
        client_secret=os.environ["BANDWIDTH_CLIENT_SECRET"],
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, serializer=serializer
        ),
    )
    worker = PipelineWorker(
        Pipeline([transport.input(), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
    )

    @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]  # Pipecat leaves it unannotated
    async def on_connected(_transport: object, _ws: object) -> None:
        await worker.queue_frames(
            [OutputAudioRawFrame(audio=TONE, sample_rate=8000, num_channels=1)]
        )

    @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]  # Pipecat leaves it unannotated
    async def on_disconnected(_transport: object, _ws: object) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
