"""Bots without tools whose serializer gets the wrong ids: its hang-up is their only request.

- ``app``: the flaw of pipecat-bandwidth's early example bot. The example
  (docs/bandwidth.md S7, before its changelog's fix) read ``callId`` and ``accountId``
  from the unauthenticated ``start`` frame (``spoof.start_ids`` catches it).
- ``last_webhook_app``: hands the serializer the ids of the last webhook it answered, a
  per-process "current call" (``spoof.interleaved_webhooks`` catches it).

Neither has tools, so neither makes a Voice API request of its own: the only one is the
serializer's hang-up when the pipeline ends while the socket is still open
(docs/pipecat.md §3), here by Pipecat's idle timeout (``EXAMPLE_IDLE_S``, default 300 s,
as Pipecat). Both keep the guide's webhook (``guide_webhook``) so that only the ids the
serializer gets are wrong. They play one second of tone when the caller connects.

Serve with ``--app tests.bots.start_ids_bot:app`` (or ``:last_webhook_app``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

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

TONE = (np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 12000).astype("<i2").tobytes()
Ids = tuple[Any, Any]
"""The ``(callId, accountId)`` handed to the serializer."""
Choose = Callable[[dict[str, Any], Ids], Ids]
"""Picks the serializer's ids from the ``start`` metadata and the last webhook's ids."""


def create_app(choose: Choose) -> FastAPI:
    """The bot, whose serializer gets the ids ``choose`` picks."""
    app = FastAPI()
    tokens: dict[str, tuple[str, str]] = {}
    last: list[Ids] = [(None, None)]

    @app.post("/")
    async def webhook(request: Request) -> Response:
        before = set(tokens)
        response = await answer_webhook(request, tokens)
        last[0] = next(tokens[t] for t in tokens if t not in before)
        return response

    @app.websocket("/ws/{token}")
    async def ws(websocket: WebSocket, token: str) -> None:
        if tokens.pop(token, None) is None:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        start = json.loads(await websocket.receive_text())
        metadata = start.get("metadata", {})
        await serve(websocket, metadata.get("streamId", ""), choose(metadata, last[0]))

    return app


async def serve(websocket: WebSocket, stream_id: str, ids: Ids) -> None:
    """Run the tool-less pipeline until the caller leaves or the idle timeout ends it."""
    call_id, account_id = ids
    serializer = BandwidthFrameSerializer(
        stream_id=stream_id,
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


# The flaw: attacker-controlled ids from the start frame.
app = create_app(lambda start, _last: (start.get("callId"), start.get("accountId")))
# The flaw: whichever call's webhook came last, not the one this socket's token was minted for.
last_webhook_app = create_app(lambda _start, last: last)
