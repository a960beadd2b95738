"""The bot's Pipecat pipeline on one media stream, as in the guide, for Pipecat 1.14.

``transport.input() → STT → user aggregator (Silero VAD) → LLM → TTS → transport.output()
→ playout monitor → assistant aggregator``, 8 kHz in, 8 or 24 kHz out, interruptions on
(Pipecat's default user-turn start strategy), a greeting when the client connects, and the
``transfer_to_human``/``end_call`` tools declared on the context and bound to the trusted
call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner
from pipecat_bandwidth import BandwidthFrameSerializer

from bot.config import Settings
from bot.services import make_services
from bot.tokens import Binding
from bot.tools import CallTools, PlayoutMonitor, tools_schema
from bot.voice_api import VoiceApi
from simulator.standins import Script, fetch_caller_lines


def warm_up() -> None:
    """Import and load the turn-taking models once at startup (~0.6 s), not in a call."""
    SileroVADAnalyzer()
    UserTurnStrategies()  # the default stop strategy loads the bundled smart-turn model


async def load_turn_models() -> tuple[SileroVADAnalyzer, UserTurnStrategies]:
    """This call's Silero VAD and default turn strategies (smart-turn), built in threads.

    Each creates ONNX sessions (~110 ms for the pair): built on the event loop, that froze
    every other call's audio for as long; in threads the loop's worst stall is ~4 ms.
    """
    return await asyncio.gather(
        asyncio.to_thread(SileroVADAnalyzer), asyncio.to_thread(UserTurnStrategies)
    )


def make_serializer(settings: Settings, call: Binding, stream_id: str) -> BandwidthFrameSerializer:
    """The serializer, given only trusted ids, pointed at the configured Bandwidth hosts."""
    pcm = settings.outbound_encoding == "pcm24k"
    serializer = BandwidthFrameSerializer(
        stream_id=stream_id,
        call_id=call.call_id,
        account_id=call.account_id,
        client_id=settings.client_id or None,
        client_secret=settings.client_secret or None,
        params=BandwidthFrameSerializer.InputParams(
            outbound_encoding="PCM" if pcm else "PCMU",
            outbound_pcm_sample_rate=24000,
            # Its hang-up needs API credentials; without them the bot's own runs alone.
            auto_hang_up=bool(settings.client_id and settings.client_secret),
        ),
    )
    # pipecat-bandwidth 0.1.0 keeps its URLs in class attributes; set them per instance.
    serializer.OAUTH_TOKEN_URL = settings.oauth_url
    serializer.VOICE_API_BASE_URL = settings.voice_api_url
    return serializer


@dataclass
class CallOutcome:
    """What happened on one stream, for the handler's teardown and for tests."""

    call: Binding
    services: str = ""
    tools_log: list[str] = field(default_factory=list)
    transferred: bool = False
    ended_by_bot: bool = False


async def run_pipeline(
    websocket: WebSocket,
    *,
    settings: Settings,
    script: Script,
    call: Binding,
    stream_id: str,
    voice_api: VoiceApi,
) -> CallOutcome:
    """Run the conversation on an accepted socket until the pipeline ends."""
    outcome = CallOutcome(call)
    lines = None
    if settings.control_url:
        lines = asyncio.create_task(fetch_caller_lines(settings.control_url, call.call_id))
    try:
        services = make_services(settings, script, lines if lines is not None else ())
        outcome.services = services.describe()
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=make_serializer(settings, call, stream_id),
            ),
        )
        context = LLMContext(tools=tools_schema())
        vad, turns = await load_turn_models()
        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=turns),
        )
        playout = PlayoutMonitor()
        tools = CallTools(call, voice_api, playout)
        for name, handler in tools.handlers().items():
            services.llm.register_function(name, handler)
        pipeline = Pipeline(
            [
                transport.input(),
                services.stt,
                user_aggregator,
                services.llm,
                services.tts,
                transport.output(),
                playout,
                assistant_aggregator,
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=8000,
                audio_out_sample_rate=settings.out_sample_rate,
                enable_metrics=True,
            ),
            idle_timeout_secs=settings.idle_timeout_s,
        )

        @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
        async def on_connected(_transport: object, _ws: object) -> None:
            context.add_message({"role": "user", "content": script.greeting_prompt})
            await worker.queue_frames([LLMRunFrame()])

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def on_disconnected(_transport: object, _ws: object) -> None:
            logger.info(f"call {call.call_id}: media stream closed")
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
    finally:
        if lines is not None and not lines.done():
            lines.cancel()
    outcome.tools_log = tools.log
    outcome.transferred = tools.transferred
    outcome.ended_by_bot = tools.ended_by_bot
    return outcome
