"""A user's own Pipecat bot that swaps in bwsim's stand-ins the way the README shows.

It shares no code with the reference bot: the guide's webhook (``guide_webhook``), the
guide's pipeline on ``BandwidthFrameSerializer``, one ``end_call`` tool, and the
services chosen by :func:`make_services`, which is the README's example as written:
``simulator.standins`` when bwsim started the bot (``BWSIM_STANDINS=1``), the guide's
providers otherwise. It greets the way Pipecat's examples do, by running the LLM on a
system message. Serve with ``--app tests.bots.standins_bot:app``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import EndWorkerFrame, FunctionCallResultProperties, LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.llm_service import FunctionCallParams
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner
from pipecat_bandwidth import BandwidthFrameSerializer

from tests.bots.guide_webhook import answer_webhook

app = FastAPI()
TOKENS: dict[str, tuple[str, str]] = {}
SYSTEM = "You are a helpful assistant on a phone call. Call end_call after saying goodbye."


# --- the README's example, as a user copies it into their bot ---
def make_services(call_id: str) -> tuple[Any, Any, Any]:
    """STT, LLM and TTS: bwsim's offline stand-ins under bwsim, else the real providers."""
    if os.environ.get("BWSIM_STANDINS") == "1":  # set by bwsim for the bots it starts
        from simulator.standins import standins

        return standins(call_id)  # scripted STT and LLM, espeak-ng TTS
    from pipecat.services.cartesia.tts import CartesiaTTSService
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.services.openai.llm import OpenAILLMService

    return (
        DeepgramSTTService(api_key=os.environ["DEEPGRAM_API_KEY"]),
        OpenAILLMService(api_key=os.environ["OPENAI_API_KEY"]),
        CartesiaTTSService(api_key=os.environ["CARTESIA_API_KEY"]),
    )


# --- end of the example ---


async def end_call(params: FunctionCallParams) -> None:
    await params.result_callback(
        {"status": "ending"}, properties=FunctionCallResultProperties(run_llm=False)
    )
    await params.llm.push_frame(EndWorkerFrame(reason="end_call"))


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
    stt, llm, tts = make_services(call_id)
    llm.register_function("end_call", end_call)
    tool = FunctionSchema(name="end_call", description="End the call.", properties={}, required=[])
    context = LLMContext(
        messages=[{"role": "system", "content": SYSTEM}],
        tools=ToolsSchema(standard_tools=[tool]),
    )
    user, assistant = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    pipeline = Pipeline([transport.input(), stt, user, llm, tts, transport.output(), assistant])
    worker = PipelineWorker(
        pipeline, params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)
    )

    @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]  # Pipecat leaves it unannotated
    async def on_connected(_transport: object, _ws: object) -> None:
        await worker.queue_frames([LLMRunFrame()])

    @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]  # Pipecat leaves it unannotated
    async def on_disconnected(_transport: object, _ws: object) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
