"""A Pipecat bot with the real serializer that records what it hears and plays a tone.

It follows the guide's trust pattern (Basic-auth webhook, one-time token, ``/ws/{token}``)
and runs ``BandwidthFrameSerializer`` in a real ``FastAPIWebsocketTransport``. When the
caller connects it plays one second of a 1 kHz tone; it keeps every input audio frame,
and when the pipeline ends it writes them to ``$MEDIA_BOT_DIR/{callId}.pcm`` (16-bit,
8 kHz) and touches ``{callId}.ended``: the proof that the caller's hang-up ended it.

Serve with ``--app tests.bots.media_bot:app``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
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


class Recorder(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.audio = bytearray()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.audio += frame.audio
        await self.push_frame(frame, direction)


@app.post("/")
async def webhook(request: Request) -> Response:
    return await answer_webhook(request, TOKENS)


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
    recorder = Recorder()
    worker = PipelineWorker(
        Pipeline([transport.input(), recorder, transport.output()]),
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
    out = Path(os.environ["MEDIA_BOT_DIR"])
    (out / f"{call_id}.pcm").write_bytes(bytes(recorder.audio))
    (out / f"{call_id}.ended").touch()
