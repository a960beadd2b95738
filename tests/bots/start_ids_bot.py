"""The flaw of pipecat-bandwidth's early example bot: the serializer gets the ids of ``start``.

The example (docs/bandwidth.md S7, before its changelog's fix) read ``callId`` and
``accountId`` from the unauthenticated ``start`` frame and had no tools, so it makes no
Voice API request of its own: the only one is the serializer's hang-up when the pipeline
ends while the socket is still open (docs/pipecat.md §3), here by Pipecat's idle timeout
(``EXAMPLE_IDLE_S``, default 300 s, as Pipecat). It keeps the guide's webhook
(``guide_webhook``) so that only the ``start`` ids are wrong. It plays one second of tone
when the caller connects.

Serve with ``--app tests.bots.start_ids_bot:app``.
"""

from __future__ import annotations

import json
import os

import numpy as np
from fastapi import FastAPI, Request, WebSocket
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

from tests.bots.guide_webhook import answer_webhook

app = FastAPI()
TOKENS: dict[str, tuple[str, str]] = {}
TONE = (np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 12000).astype("<i2").tobytes()


@app.post("/")
async def webhook(request: Request) -> Response:
    return await answer_webhook(request, TOKENS)


@app.websocket("/ws/{token}")
async def ws(websocket: WebSocket, token: str) -> None:
    if TOKENS.pop(token, None) is None:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    start = json.loads(await websocket.receive_text())
    metadata = start.get("metadata", {})
    serializer = BandwidthFrameSerializer(
        stream_id=metadata.get("streamId", ""),
        call_id=metadata.get("callId"),  # the flaw: attacker-controlled ids
        account_id=metadata.get("accountId"),
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
        idle_timeout_secs=float(os.environ.get("EXAMPLE_IDLE_S", "300")),
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
