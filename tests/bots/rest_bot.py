"""A small bot that talks to Bandwidth's REST APIs the way real bots do, unmodified.

It follows the guide's trust pattern (Basic-auth webhook, one-time token, ``/ws/{token}``),
runs the real ``BandwidthFrameSerializer`` in a real ``FastAPIWebsocketTransport`` and
ends its pipeline at once, so the serializer's own auto hang-up runs (aiohttp, to the
hard-coded ``https://api.bandwidth.com`` and ``https://voice.bandwidth.com``). Its
``/transfer`` and ``/hangup`` endpoints do what the guide's ``transfer_to_human`` does,
through httpx or aiohttp, also to the hard-coded production URLs. bwsim must route all
of it to the fake without a change to this file.

Serve with ``--app tests.bots.rest_bot:httpx_app`` (or ``aiohttp_app``), or run
``python -m tests.bots.rest_bot --client httpx`` (reads ``$PORT``).
"""

from __future__ import annotations

import argparse
import json
import os

import aiohttp
import httpx
import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pipecat.frames.frames import EndFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner
from pipecat_bandwidth import BandwidthFrameSerializer

from tests.bots.guide_webhook import answer_webhook

OAUTH_TOKEN_URL = "https://api.bandwidth.com/api/v1/oauth2/token"
VOICE_API_BASE_URL = "https://voice.bandwidth.com/api/v2"
TRANSFER_BXML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Bxml><Transfer><PhoneNumber>{number}</PhoneNumber></Transfer></Bxml>"
)


async def _httpx_call(method: str, path: str, body: bytes, content_type: str) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=5) as client:
        token = await client.post(
            OAUTH_TOKEN_URL,
            auth=(os.environ["BANDWIDTH_CLIENT_ID"], os.environ["BANDWIDTH_CLIENT_SECRET"]),
            data={"grant_type": "client_credentials"},
        )
        if token.status_code != 200:
            return {"token_status": token.status_code}
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "Content-Type": content_type,
        }
        r = await client.request(method, VOICE_API_BASE_URL + path, content=body, headers=headers)
        return {"token_status": 200, "status": r.status_code}


async def _aiohttp_call(method: str, path: str, body: bytes, content_type: str) -> dict[str, int]:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        auth = aiohttp.BasicAuth(
            os.environ["BANDWIDTH_CLIENT_ID"], os.environ["BANDWIDTH_CLIENT_SECRET"]
        )
        async with session.post(
            OAUTH_TOKEN_URL, auth=auth, data={"grant_type": "client_credentials"}
        ) as token:
            if token.status != 200:
                return {"token_status": token.status}
            access = (await token.json())["access_token"]
        headers = {"Authorization": f"Bearer {access}", "Content-Type": content_type}
        async with session.request(
            method, VOICE_API_BASE_URL + path, data=body, headers=headers
        ) as r:
            return {"token_status": 200, "status": r.status}


def create_app(client: str) -> FastAPI:
    """Build the bot; ``client`` ("httpx" or "aiohttp") is what its own REST calls use."""
    call_api = _httpx_call if client == "httpx" else _aiohttp_call
    app = FastAPI()
    tokens: dict[str, tuple[str, str]] = {}

    @app.post("/")
    async def webhook(request: Request) -> Response:
        return await answer_webhook(request, tokens)

    @app.websocket("/ws/{token}")
    async def ws(websocket: WebSocket, token: str) -> None:
        trusted = tokens.pop(token, None)
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
            # End the pipeline while the socket is open: the serializer hangs up.
            await worker.queue_frames([EndFrame()])

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    @app.post("/transfer")
    async def transfer(request: Request) -> JSONResponse:
        body = await request.json()
        path = f"/accounts/{body['accountId']}/calls/{body['callId']}/bxml"
        xml = TRANSFER_BXML.format(number=os.environ["HUMAN_AGENT_NUMBER"]).encode()
        return JSONResponse(await call_api("PUT", path, xml, "application/xml"))

    @app.post("/hangup")
    async def hangup(request: Request) -> JSONResponse:
        body = await request.json()
        path = f"/accounts/{body['accountId']}/calls/{body['callId']}"
        payload = json.dumps({"state": "completed"}).encode()
        return JSONResponse(await call_api("POST", path, payload, "application/json"))

    @app.post("/fetch")
    async def fetch(request: Request) -> JSONResponse:
        """Reach an arbitrary URL (a bot calling some other service)."""
        url = (await request.json())["url"]
        try:
            if client == "httpx":
                async with httpx.AsyncClient(timeout=5) as c:
                    status = (await c.get(url)).status_code
            else:
                async with aiohttp.ClientSession() as s, s.get(url) as r:
                    status = r.status
        except Exception as exc:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)})
        return JSONResponse({"status": status})

    return app


httpx_app = create_app("httpx")
aiohttp_app = create_app("aiohttp")

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=["httpx", "aiohttp"], required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.client),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        log_level="warning",
        ws="websockets-sansio",
    )
