"""The bot's web app: the Basic-auth call webhook and the media WebSocket.

This is the ``bandwidth-chatbot`` of Bandwidth's Pipecat guide, hardened:

- ``POST /`` checks Basic credentials in constant time (401 with ``WWW-Authenticate:
  Basic`` when missing or wrong, 503 when the bot has none configured), validates the
  ids, mints a one-time token bound to them and answers ``<StartStream>`` to
  ``wss://{PROXY_HOST}/ws/{token}`` plus a keep-alive verb.
- ``/ws/{token}`` refuses (close 1008 before accepting) an unknown, used or expired
  token, reads only ``streamId`` from ``start``, and gives the serializer the ids the
  token is bound to. When the stream ends for any reason the bot hangs its call up
  itself: with Pipecat 1.14 the serializer does not once the socket is closed.

``create_app`` takes the token store and two seams (``authenticate``, ``resolve_ids``)
so the tests can build deliberately broken copies; the shipped ``app`` uses the safe ones.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from loguru import logger

from bot.config import Settings
from bot.pipeline import run_pipeline
from bot.tokens import Binding, MemoryTokenStore, RedisTokenStore, TokenStore
from bot.voice_api import VoiceApi

ID_RE = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
"""RFC 3986 unreserved characters only: ids go into URL paths."""
START_TIMEOUT_S = 10.0

Authenticate = Callable[[Settings, str | None], bool]
ResolveIds = Callable[[Binding, dict[str, Any]], Binding]


def basic_auth_ok(settings: Settings, header: str | None) -> bool:
    """Whether ``header`` is Basic with the webhook credentials (constant-time compare)."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user_ok = secrets.compare_digest(user.encode(), settings.webhook_username.encode())
    password_ok = secrets.compare_digest(password.encode(), settings.webhook_password.encode())
    return bool(sep) and user_ok and password_ok


def trusted_ids(binding: Binding, start: dict[str, Any]) -> Binding:
    """The ids the token is bound to; nothing from the ``start`` frame."""
    return binding


def _bxml(settings: Settings, token: str) -> str:
    keepalive = (
        '<Pause duration="86400"/>'
        if settings.keepalive == "pause"
        else '<StopStream name="bot" wait="true"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<StartStream name="bot" destination="wss://{settings.proxy_host}/ws/{token}" '
        f'mode="bidirectional" tracks="inbound"/>{keepalive}</Response>'
    )


def _store(settings: Settings) -> TokenStore:
    if settings.redis_url:
        return RedisTokenStore(settings.redis_url, settings.token_ttl_s)
    return MemoryTokenStore(settings.token_ttl_s)


def create_app(
    settings: Settings | None = None,
    *,
    store: TokenStore | None = None,
    authenticate: Authenticate = basic_auth_ok,
    resolve_ids: ResolveIds = trusted_ids,
) -> FastAPI:
    """Build the bot (settings default to the environment, read now)."""
    cfg = settings or Settings.from_env()
    tokens = store or _store(cfg)
    voice_api = VoiceApi(cfg)
    app = FastAPI(title="Bandwidth Pipecat bot")
    logger.info(
        f"bot: tokens in {'Redis' if cfg.redis_url else 'memory'}, outbound "
        f"{cfg.outbound_encoding}, speech by offline stand-ins (espeak-ng)"
    )

    @app.post("/")
    async def webhook(request: Request) -> Response:
        if not cfg.webhook_configured:
            return Response("webhook credentials are not configured", status_code=503)
        if not authenticate(cfg, request.headers.get("authorization")):
            return Response(
                status_code=401, headers={"WWW-Authenticate": 'Basic realm="bandwidth"'}
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return Response("body is not JSON", status_code=400)
        if not isinstance(body, dict):
            return Response("body is not a JSON object", status_code=400)
        call_id, account_id = body.get("callId"), body.get("accountId")
        if not (isinstance(call_id, str) and ID_RE.match(call_id)):
            return Response("missing or invalid callId", status_code=400)
        if not (isinstance(account_id, str) and ID_RE.match(account_id)):
            return Response("missing or invalid accountId", status_code=400)
        if body.get("eventType") not in ("initiate", "answer"):
            return Response(status_code=204)
        token = await tokens.mint(Binding(call_id, account_id))
        return Response(_bxml(cfg, token), media_type="application/xml")

    @app.websocket("/ws/{token}")
    async def media(websocket: WebSocket, token: str) -> None:
        binding = await tokens.consume(token)
        if binding is None:
            logger.warning("media socket with an unknown, used or expired token: refused")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        try:
            start = json.loads(await asyncio.wait_for(websocket.receive_text(), START_TIMEOUT_S))
        except WebSocketDisconnect:
            await voice_api.hang_up(binding)  # the stream ended before it began
            return
        except (TimeoutError, ValueError):
            await websocket.close(code=1008)
            await voice_api.hang_up(binding)
            return
        metadata = start.get("metadata") if isinstance(start, dict) else None
        stream_id = metadata.get("streamId") if isinstance(metadata, dict) else None
        if start.get("eventType") != "start" or not (
            isinstance(stream_id, str) and ID_RE.match(stream_id)
        ):
            await websocket.close(code=1008)
            await voice_api.hang_up(binding)
            return
        call = resolve_ids(binding, start)
        try:
            await run_pipeline(websocket, cfg, call, stream_id, voice_api)
        finally:
            # The stream is over, whatever ended it: make sure the call is too.
            await voice_api.hang_up(call)

    return app


app = create_app()
