"""A bot that handles every kind of secret bwsim must keep out of its records.

It checks the webhook's Basic credentials (the guide's challenge), answers with a
``<StartStream>`` that carries ``destinationUsername``/``destinationPassword``, and once
the stream starts, gets an OAuth token by form-posting ``client_id`` and
``client_secret`` (no Basic), then transfers the call with BXML whose ``<PhoneNumber>``
carries a ``password``, using the token as ``Authorization: Bearer``. It writes every
secret it used (and whether each step worked) to the JSON file ``$SECRETS_FILE``, so a
test can look for them in the call's artifacts and in ``GET /_bwsim/journal``.

Serve with ``--app tests.bots.secrets_bot:app``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from tests.bots.guide_webhook import answer_webhook

OAUTH_TOKEN_URL = "https://api.bandwidth.com/api/v1/oauth2/token"
VOICE_API_BASE_URL = "https://voice.bandwidth.com/api/v2"
STREAM_PASSWORD = "stream-pw-7Qx2-never-in-records"  # the secrets the test looks for
TRANSFER_PASSWORD = "transfer-pw-9Kd4-never-in-records"

app = FastAPI()
tokens: dict[str, tuple[str, str]] = {}


@app.post("/")
async def webhook(request: Request) -> Response:
    """The guide's webhook, with stream credentials added to its ``<StartStream>``."""
    answer = await answer_webhook(request, tokens)
    bxml = (
        bytes(answer.body)
        .decode()
        .replace(
            'mode="bidirectional"',
            f'destinationUsername="stream-user" destinationPassword="{STREAM_PASSWORD}" '
            'mode="bidirectional"',
        )
    )
    return Response(bxml, media_type="application/xml")


async def _transfer(account_id: str, call_id: str) -> dict[str, object]:
    """Token by form post, then a transfer whose BXML holds a password."""
    async with httpx.AsyncClient(timeout=5) as client:
        got = await client.post(
            OAUTH_TOKEN_URL,
            data={
                "grant_type": "client_credentials",
                "client_id": os.environ["BANDWIDTH_CLIENT_ID"],
                "client_secret": os.environ["BANDWIDTH_CLIENT_SECRET"],
            },
        )
        token = got.json().get("access_token", "") if got.status_code == 200 else ""
        bxml = (
            '<?xml version="1.0" encoding="UTF-8"?><Bxml><Transfer>'
            f'<PhoneNumber username="agent" password="{TRANSFER_PASSWORD}">'
            f"{os.environ['HUMAN_AGENT_NUMBER']}</PhoneNumber></Transfer></Bxml>"
        )
        put = await client.put(
            f"{VOICE_API_BASE_URL}/accounts/{account_id}/calls/{call_id}/bxml",
            content=bxml.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )
    return {"token_status": got.status_code, "access_token": token, "transfer": put.status_code}


@app.websocket("/ws/{token}")
async def media(websocket: WebSocket, token: str) -> None:
    """Accept the trusted call's stream, transfer it, and write down what was used."""
    trusted = tokens.pop(token, None)
    if trusted is None:
        await websocket.close(code=1008)
        return
    call_id, account_id = trusted
    await websocket.accept()
    await websocket.receive_text()  # start
    done = await _transfer(account_id, call_id)
    record = {
        **done,
        "client_secret": os.environ["BANDWIDTH_CLIENT_SECRET"],
        "webhook_password": os.environ["BANDWIDTH_WEBHOOK_PASSWORD"],
        "control_token": os.environ.get("BWSIM_CONTROL_TOKEN", ""),
        "stream_password": STREAM_PASSWORD,
        "transfer_password": TRANSFER_PASSWORD,
    }
    await asyncio.to_thread(
        Path(os.environ["SECRETS_FILE"]).write_text, json.dumps(record), encoding="utf-8"
    )
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        return
