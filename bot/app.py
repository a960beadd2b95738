"""The bot's web app: the Basic-auth call webhook and the media WebSocket.

This is the ``bandwidth-chatbot`` of Bandwidth's Pipecat guide, hardened:

- ``POST /`` checks Basic credentials in constant time (401 with ``WWW-Authenticate:
  Basic`` when missing or wrong, 503 when the bot has none configured), validates the
  ids, mints a one-time token bound to them and answers ``<StartStream>`` to
  ``wss://{PROXY_HOST}/ws/{token}`` plus a keep-alive verb. Event types other than
  ``initiate``/``answer`` get 204.
- ``/ws/{token}`` refuses (close 1008 before accepting) an unknown, used or expired
  token, reads only ``streamId`` from ``start``, and gives the serializer and the tools
  the ids the token is bound to. When the stream ends for any reason the bot hangs its
  call up itself (with Pipecat 1.14 the serializer does not once the socket is closed),
  unless it transferred the call.
- ``POST /transfer-complete`` (the transfer's ``transferCompleteUrl``, with the webhook
  credentials): after a bridge the call ends; when the agent was busy, did not answer or
  rejected, the caller hears so and is back with the bot on a new stream, never left
  unheard.

``create_app`` takes the settings, the token store and two seams (``authenticate``,
``resolve_ids``) so tests can build deliberately broken copies; the shipped ``app`` uses
the safe ones. Settings are read from the environment when the app starts, not when this
module is imported.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from loguru import logger
from starlette.websockets import WebSocketDisconnect

from bot.config import Settings
from bot.pipeline import run_pipeline, warm_up
from bot.services import load_bot_script
from bot.tokens import TOKEN_RE, Binding, MemoryTokenStore, RedisTokenStore, TokenStore
from bot.voice_api import TRANSFER_COMPLETE_PATH, VoiceApi
from simulator.standins import Script, espeak

ID_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}")
"""RFC 3986 unreserved characters only (RFC 3986 §2.3): ids go into URL paths. Used with
``fullmatch``: ``$`` would let a trailing newline through."""
START_TIMEOUT_S = 10.0
"""How long the media socket may take to send ``start`` after it is accepted."""
MAX_WEBHOOK_BYTES = 64 * 1024
STREAM_EVENTS = frozenset({"initiate", "answer"})
HANGUP_BXML = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
BACK = "Sorry, nobody can take your call right now. I am still here to help."
"""What a caller hears when the transfer failed, before the bot takes the call back."""

Authenticate = Callable[[Settings, str | None], bool]
ResolveIds = Callable[[Binding, dict[str, Any]], Binding]


def basic_auth_ok(settings: Settings, header: str | None) -> bool:
    """Whether ``header`` is Basic with the webhook credentials (constant-time compare)."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    # Both comparisons always run, so the time taken says nothing about which failed.
    user_ok = secrets.compare_digest(user.encode(), settings.webhook_username.encode())
    password_ok = secrets.compare_digest(password.encode(), settings.webhook_password.encode())
    return bool(sep) and user_ok and password_ok


def trusted_ids(binding: Binding, start: dict[str, Any]) -> Binding:
    """The ids the token is bound to; nothing from the ``start`` frame."""
    return binding


def bxml_answer(settings: Settings, token: str, *, first: str = "") -> str:
    """The ``<StartStream>`` answer to a call webhook, with the keep-alive verb.

    ``first`` is BXML that runs before the stream opens (a sentence to the caller).
    """
    keepalive = (
        '<Pause duration="86400"/>'
        if settings.keepalive == "pause"
        else '<StopStream name="bot" wait="true"/>'
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{first}'
        f'<StartStream name="bot" destination="wss://{settings.proxy_host}/ws/{token}" '
        f'mode="bidirectional" tracks="inbound"/>{keepalive}</Response>'
    )


def _store(settings: Settings) -> TokenStore:
    if settings.redis_url:
        return RedisTokenStore(settings.redis_url, settings.token_ttl_s)
    return MemoryTokenStore(settings.token_ttl_s)


@dataclass
class BotState:
    """What one app instance holds: settings, script, tokens, and its Voice API client."""

    settings: Settings
    script: Script
    tokens: TokenStore
    voice_api: VoiceApi

    @classmethod
    def build(cls, settings: Settings | None, store: TokenStore | None) -> BotState:
        cfg = settings or Settings.from_env()
        state = cls(cfg, load_bot_script(cfg), store or _store(cfg), VoiceApi(cfg))
        keys = {"stt": cfg.deepgram_api_key, "llm": cfg.openai_api_key, "tts": cfg.cartesia_api_key}
        speech = ", ".join(
            f"{k}: {'provider' if v else 'offline stand-in'}" for k, v in keys.items()
        )
        logger.info(
            f"bot: tokens in {'Redis' if cfg.redis_url else 'memory'} "
            f"(TTL {cfg.token_ttl_s:g} s), outbound {cfg.outbound_encoding}, keep-alive "
            f"{cfg.keepalive}, {speech}, script {cfg.script_path}"
        )
        if not cfg.webhook_configured:
            logger.warning("BANDWIDTH_WEBHOOK_USERNAME/PASSWORD unset: every webhook gets 503")
        if not cfg.proxy_host:
            logger.warning("PROXY_HOST unset: <StartStream> will name no host Bandwidth can reach")
        if not (cfg.client_id and cfg.client_secret):
            logger.warning("BANDWIDTH_CLIENT_ID/SECRET unset: the bot cannot hang up or transfer")
        return state


def _unauthorized() -> Response:
    return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bandwidth"'})


async def _read_start(websocket: WebSocket) -> dict[str, Any] | None:
    """The first frame as a JSON object; None if it is not one or does not come in time."""
    try:
        message = await asyncio.wait_for(websocket.receive(), START_TIMEOUT_S)
    except TimeoutError:
        logger.warning(f"no start frame within {START_TIMEOUT_S:g} s")
        return None
    if message.get("type") == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    try:
        start = json.loads(message.get("text") or message.get("bytes") or b"")
    except ValueError:
        return None
    return start if isinstance(start, dict) else None


async def _call_webhook(
    bot: BotState, request: Request, authenticate: Authenticate
) -> tuple[dict[str, Any], str, str] | Response:
    """An authenticated webhook's body and its call and account ids, or the refusal."""
    if not bot.settings.webhook_configured:
        return Response("webhook credentials are not configured", status_code=503)
    if not authenticate(bot.settings, request.headers.get("authorization")):
        return _unauthorized()
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        return Response("webhook body too large", status_code=413)
    try:
        body = json.loads(raw)
    except ValueError:
        return Response("body is not JSON", status_code=400)
    if not isinstance(body, dict):
        return Response("body is not a JSON object", status_code=400)
    call_id, account_id = body.get("callId"), body.get("accountId")
    if not (isinstance(call_id, str) and ID_RE.fullmatch(call_id)):
        return Response("missing or invalid callId", status_code=400)
    if not (isinstance(account_id, str) and ID_RE.fullmatch(account_id)):
        return Response("missing or invalid accountId", status_code=400)
    return body, call_id, account_id


async def handle_webhook(bot: BotState, request: Request, authenticate: Authenticate) -> Response:
    """``POST /``: authenticate, validate, mint a token, answer ``<StartStream>``."""
    read = await _call_webhook(bot, request, authenticate)
    if isinstance(read, Response):
        return read
    body, call_id, account_id = read
    if body.get("eventType") not in STREAM_EVENTS:
        return Response(status_code=204)
    token = await bot.tokens.mint(call_id, account_id)
    logger.info(f"call {call_id}: {body.get('eventType')} webhook, stream token minted")
    return Response(bxml_answer(bot.settings, token), media_type="application/xml")


async def handle_transfer_complete(
    bot: BotState, request: Request, authenticate: Authenticate
) -> Response:
    """``POST /transfer-complete``: the transfer is over; one that failed brings the caller back.

    After a bridge the agent hung up (cause ``hangup``): the call ends. A busy, unanswered
    or rejected agent: the caller hears why and is back with the bot on a new stream.
    """
    read = await _call_webhook(bot, request, authenticate)
    if isinstance(read, Response):
        return read
    body, call_id, account_id = read
    cause = body.get("cause")
    if body.get("eventType") != "transferComplete" or cause == "hangup":
        return Response(HANGUP_BXML, media_type="application/xml")
    token = await bot.tokens.mint(call_id, account_id)
    logger.info(f"call {call_id}: the transfer ended {cause!r}; the caller is back")
    answer = bxml_answer(bot.settings, token, first=f"<SpeakSentence>{BACK}</SpeakSentence>")
    return Response(answer, media_type="application/xml")


async def handle_media(
    bot: BotState, websocket: WebSocket, token: str, resolve_ids: ResolveIds
) -> None:
    """``/ws/{token}``: check the token, read ``start``, run the call, hang up after it."""
    binding = await bot.tokens.consume(token) if TOKEN_RE.fullmatch(token) else None
    if binding is None:
        logger.warning("media socket with an unknown, used or expired token: refused")
        await websocket.close(code=1008)
        return
    outcome = None
    try:
        await websocket.accept()
        start = await _read_start(websocket)
        metadata = start.get("metadata") if start else None
        stream_id = metadata.get("streamId") if isinstance(metadata, dict) else None
        if not (
            start
            and start.get("eventType") == "start"
            and isinstance(stream_id, str)
            and ID_RE.fullmatch(stream_id)
        ):
            logger.warning(f"call {binding.call_id}: first frame is not a valid start")
            await websocket.close(code=1008)
            return
        call = resolve_ids(binding, start)
        outcome = await run_pipeline(
            websocket,
            settings=bot.settings,
            script=bot.script,
            call=call,
            stream_id=stream_id,
            voice_api=bot.voice_api,
        )
    except WebSocketDisconnect:
        logger.info(f"call {binding.call_id}: the media socket was closed by the peer")
    except Exception:  # noqa: BLE001 - never raise out of the handler: the call must end
        logger.exception(f"call {binding.call_id}: the media stream failed")
    finally:
        # The stream is over, whatever ended it: make sure the call is too, unless the
        # bot handed it to a person (a hang-up then would drop the caller).
        if outcome is not None and outcome.transferred:
            logger.info(f"call {outcome.call.call_id}: transferred; not hanging up")
        else:
            await bot.voice_api.hang_up(outcome.call if outcome else binding)


def create_app(
    settings: Settings | None = None,
    *,
    store: TokenStore | None = None,
    authenticate: Authenticate = basic_auth_ok,
    resolve_ids: ResolveIds = trusted_ids,
) -> FastAPI:
    """Build the bot; without ``settings`` it reads the environment when it starts."""
    holder: list[BotState] = []

    def state() -> BotState:
        if not holder:
            holder.append(BotState.build(settings, store))
        return holder[0]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        bot = state()  # configuration errors stop the server here, before any call
        # Load models now, not during the first call's greeting.
        await asyncio.to_thread(warm_up)
        if not bot.settings.cartesia_api_key:
            await asyncio.to_thread(espeak.warm_up)
        yield
        await bot.tokens.aclose()

    app = FastAPI(title="Bandwidth Pipecat bot", lifespan=lifespan)

    @app.post("/")
    async def webhook(request: Request) -> Response:
        return await handle_webhook(state(), request, authenticate)

    @app.post(TRANSFER_COMPLETE_PATH)
    async def transfer_complete(request: Request) -> Response:
        return await handle_transfer_complete(state(), request, authenticate)

    @app.websocket("/ws/{token}")
    async def media(websocket: WebSocket, token: str) -> None:
        await handle_media(state(), websocket, token, resolve_ids)

    return app


app = create_app()
