"""The bot's Pipecat pipeline on one media stream.

This slice speaks a greeting with the offline espeak-ng TTS and ends the pipeline when
the caller goes. The scripted STT and LLM with ``transfer_to_human``/``end_call`` tools
(issue 4) are not in it yet.
"""

from __future__ import annotations

from fastapi import WebSocket
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner
from pipecat_bandwidth import BandwidthFrameSerializer

from bot.config import Settings
from bot.tokens import Binding
from bot.tts import EspeakTTSService
from bot.voice_api import VoiceApi


def make_serializer(settings: Settings, call: Binding, stream_id: str) -> BandwidthFrameSerializer:
    """The serializer, given only trusted ids, pointed at the configured Bandwidth hosts."""
    pcm = settings.outbound_encoding == "pcm24k"
    serializer = BandwidthFrameSerializer(
        stream_id=stream_id,
        call_id=call.call_id,
        account_id=call.account_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        params=BandwidthFrameSerializer.InputParams(
            outbound_encoding="PCM" if pcm else "PCMU", outbound_pcm_sample_rate=24000
        ),
    )
    serializer.OAUTH_TOKEN_URL = settings.oauth_url
    serializer.VOICE_API_BASE_URL = settings.voice_api_url
    return serializer


async def run_pipeline(
    websocket: WebSocket, settings: Settings, call: Binding, stream_id: str, voice_api: VoiceApi
) -> None:
    """Run the conversation on an accepted socket until the pipeline ends."""
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            serializer=make_serializer(settings, call, stream_id),
        ),
    )
    out_rate = 24000 if settings.outbound_encoding == "pcm24k" else 8000
    worker = PipelineWorker(
        Pipeline([transport.input(), EspeakTTSService(), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=out_rate),
    )

    @transport.event_handler("on_client_connected")
    async def on_connected(_transport: object, _ws: object) -> None:
        await worker.queue_frames([TTSSpeakFrame(settings.greeting)])

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport: object, _ws: object) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
