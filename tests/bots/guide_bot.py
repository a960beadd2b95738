"""The bot of Bandwidth's Pipecat guide, as the guide writes it, on bwsim's stand-ins.

Hardened nowhere beyond the guide (docs/bandwidth.md S7, S22), so ``bwsim audit`` must
fail exactly one check on it, ``hangup.on_stream_loss``, a true finding: it leaves hanging
up to ``BandwidthFrameSerializer``, which sends nothing once the socket is gone
(docs/pipecat.md §3). What the guide gives it:

- the webhook checks ``Authorization: Basic`` against ``BANDWIDTH_WEBHOOK_USERNAME`` and
  ``…_PASSWORD`` (401 with ``WWW-Authenticate: Basic`` otherwise), answers 503 when they
  are not configured, and reads the body with ``request.json()`` and ``body["callId"]``,
  no further validation;
- a one-time token (``secrets.token_urlsafe``) with a 60 s lifetime
  (``BOT_TOKEN_TTL_S``) bound to the webhook's call, in
  ``<StartStream destination="wss://$PROXY_HOST/ws/{token}">`` held by
  ``<Pause duration="86400"/>``;
- ``/ws/{token}`` refuses an unknown, used or expired token (close 1008 before
  accepting), takes only ``streamId`` from ``start``, and runs the guide's pipeline with
  the serializer bound to the token's ids;
- two tools: ``transfer_to_human`` (``PUT …/calls/{callId}/bxml`` with ``<Transfer>`` to
  ``HUMAN_AGENT_NUMBER``, an OAuth token first) and ``end_call`` (ends the pipeline; the
  serializer hangs up).

Serve with ``--app tests.bots.guide_bot:app``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from typing import Any
from xml.sax.saxutils import escape

import httpx
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

from simulator.standins import standins

app = FastAPI()
OAUTH_URL = "https://api.bandwidth.com/api/v1/oauth2/token"
VOICE_API_URL = "https://voice.bandwidth.com/api/v2"
TOKEN_TTL_S = float(os.environ.get("BOT_TOKEN_TTL_S", "60"))
TOKENS: dict[str, tuple[str, str, float]] = {}
"""token → (callId, accountId, expiry on the monotonic clock)."""
SYSTEM = (
    "You are a helpful assistant on a phone call. If the caller asks for a person, call "
    "transfer_to_human. Call end_call after saying goodbye."
)


@app.post("/")
async def webhook(request: Request) -> Response:
    """Authenticate the call webhook, mint a one-time token, answer the stream BXML."""
    user = os.environ.get("BANDWIDTH_WEBHOOK_USERNAME", "")
    password = os.environ.get("BANDWIDTH_WEBHOOK_PASSWORD", "")
    if not (user and password):
        return Response("webhook credentials are not configured", status_code=503)
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if not secrets.compare_digest(request.headers.get("authorization", ""), expected):
        return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bot"'})
    body = await request.json()
    token = secrets.token_urlsafe(32)
    TOKENS[token] = (body["callId"], body["accountId"], time.monotonic() + TOKEN_TTL_S)
    bxml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<StartStream destination="wss://{os.environ["PROXY_HOST"]}/ws/{token}" '
        'mode="bidirectional" tracks="inbound"/><Pause duration="86400"/></Response>'
    )
    return Response(bxml, media_type="application/xml")


async def transfer(call_id: str, account_id: str) -> int:
    """``PUT …/calls/{callId}/bxml`` with a ``<Transfer>`` to the human agent."""
    number = escape(os.environ.get("HUMAN_AGENT_NUMBER", ""))
    bxml = f"<Bxml><Transfer><PhoneNumber>{number}</PhoneNumber></Transfer></Bxml>"
    async with httpx.AsyncClient(timeout=10) as client:
        token = await client.post(
            OAUTH_URL,
            auth=(os.environ["BANDWIDTH_CLIENT_ID"], os.environ["BANDWIDTH_CLIENT_SECRET"]),
            data={"grant_type": "client_credentials"},
        )
        r = await client.put(
            f"{VOICE_API_URL}/accounts/{account_id}/calls/{call_id}/bxml",
            content=bxml,
            headers={
                "Authorization": f"Bearer {token.json()['access_token']}",
                "Content-Type": "application/xml",
            },
        )
    return r.status_code


@app.websocket("/ws/{token}")
async def ws(websocket: WebSocket, token: str) -> None:
    """Bind the socket to the token's call and run the guide's pipeline on it."""
    trusted = TOKENS.pop(token, None)
    if trusted is None or trusted[2] < time.monotonic():
        await websocket.close(code=1008)
        return
    call_id, account_id, _ = trusted
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
    stt, llm, tts = standins(call_id)

    async def transfer_to_human(params: FunctionCallParams) -> None:
        status = await transfer(call_id, account_id)
        await params.result_callback(
            {"status": "transferring" if status < 300 else "failed"},
            properties=FunctionCallResultProperties(run_llm=False),
        )

    async def end_call(params: FunctionCallParams) -> None:
        await params.result_callback(
            {"status": "ending"}, properties=FunctionCallResultProperties(run_llm=False)
        )
        await params.llm.push_frame(EndWorkerFrame(reason="end_call"))

    llm.register_function("transfer_to_human", transfer_to_human)
    llm.register_function("end_call", end_call)
    tools: list[Any] = [
        FunctionSchema(
            name="transfer_to_human",
            description="Transfer the caller to a person.",
            properties={"reason": {"type": "string"}},
            required=[],
        ),
        FunctionSchema(name="end_call", description="End the call.", properties={}, required=[]),
    ]
    context = LLMContext(
        messages=[{"role": "system", "content": SYSTEM}],
        tools=ToolsSchema(standard_tools=tools),
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
