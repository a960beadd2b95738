"""The reference bot with one flaw each: every bundled scenario must catch one of these.

Serve one with ``--app tests.bots.flawed:NAME`` (``NAME`` in :data:`FLAWS`). The flaw is
applied when the attribute is first read, in the bot's own process, by patching one
piece of the reference bot (or by a seam of ``bot.app.create_app``), so each copy is
the shipped bot except for the one mistake, and importing this module changes nothing.
Each flaw is a mistake real bots make.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import Response

import bot.app
import bot.pipeline
import bot.tools
import bot.voice_api
import simulator.standins.stt
import simulator.standins.tts
from bot.app import create_app
from bot.config import Settings
from tests.bots.broken_bots import EternalTokenStore, ReusableTokenStore, trusting_start_ids


def _no_keepalive() -> FastAPI:
    """Answers <StartStream> alone: Bandwidth hangs the call up as the stream opens."""
    original = bot.app.bxml_answer

    def answer(settings: Settings, token: str, *, first: str = "") -> str:
        return original(settings, token, first=first).replace('<Pause duration="86400"/>', "")

    bot.app.bxml_answer = answer
    return create_app()


def _silent() -> FastAPI:
    """Its TTS produces no audio: the bot never says anything."""

    async def run_tts(self: Any, text: str, context_id: str) -> AsyncGenerator[Any, None]:
        await self.stop_ttfb_metrics()
        return
        yield  # type: ignore[unreachable]  # never runs: it makes run_tts an async generator

    simulator.standins.tts.EspeakTTSService.run_tts = run_tts  # type: ignore[method-assign]
    return create_app()


def _deaf() -> FastAPI:
    """Its STT never reports what the caller said: the bot greets, then never answers."""

    async def nothing(self: Any) -> None:
        return None

    simulator.standins.stt.ScriptedSTTService._next_line = nothing  # type: ignore[method-assign]
    return create_app()


def _no_clear() -> FastAPI:
    """Its serializer drops the interruption: no ``clear`` is ever sent on barge-in."""
    from pipecat.frames.frames import InterruptionFrame
    from pipecat_bandwidth import BandwidthFrameSerializer

    original = BandwidthFrameSerializer.serialize

    async def serialize(self: Any, frame: Any) -> Any:
        if isinstance(frame, InterruptionFrame):
            return None
        return await original(self, frame)

    BandwidthFrameSerializer.serialize = serialize
    return create_app()


def _hangup_retry() -> FastAPI:
    """Treats a 404 on its hang-up as a failure and retries it, five times."""
    original = bot.voice_api.VoiceApi.hang_up

    async def hang_up(self: Any, call: Any) -> int | None:
        status = None
        for _ in range(5):
            status = await original(self, call)
            if status != 404:
                break
        return status

    bot.voice_api.VoiceApi.hang_up = hang_up  # type: ignore[method-assign]
    return create_app()


def _serializer_hangup_only() -> FastAPI:
    """Leaves hanging up to the serializer, as the guide's bot does (none after a drop)."""

    async def hang_up(self: Any, call: Any) -> int | None:
        return None

    bot.voice_api.VoiceApi.hang_up = hang_up  # type: ignore[method-assign]
    return create_app()


def _no_end_call() -> FastAPI:
    """Says goodbye but never ends the call: ``end_call`` only logs."""

    async def end_call(self: Any, params: Any) -> None:
        await params.result_callback({"status": "ok"})

    bot.tools.CallTools.end_call = end_call  # type: ignore[method-assign]
    return create_app()


def _response_root_transfer() -> FastAPI:
    """PUTs the transfer with a ``<Response>`` root, which Bandwidth answers 400."""
    bot.voice_api.TRANSFER_BXML = bot.voice_api.TRANSFER_BXML.replace("Bxml>", "Response>")
    return create_app()


def _no_challenge_header() -> FastAPI:
    """Answers 401 without ``WWW-Authenticate``: Bandwidth never retries with credentials."""
    bot.app._unauthorized = lambda: Response(status_code=401)
    return create_app()


def _basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _password_only(settings: Settings, header: str | None) -> bool:
    """Checks the password and not the username."""
    creds = _basic(header)
    return creds is not None and creds[1] == settings.webhook_password


def _missing_is_fine(settings: Settings, header: str | None) -> bool:
    """Checks credentials only when there are some."""
    if not header:
        return True
    creds = _basic(header)
    return creds == (settings.webhook_username, settings.webhook_password)


def _any_scheme(settings: Settings, header: str | None) -> bool:
    """Checks the credentials but not the scheme (``Bearer <base64 user:pass>`` gets in)."""
    _, _, encoded = (header or "").partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{settings.webhook_username}:{settings.webhook_password}"


def _naive_webhook() -> FastAPI:
    """Trusts the body: no JSON check, no id check (500s on garbage, accepts any id)."""

    async def handle_webhook(
        state: bot.app.BotState, request: Request, authenticate: bot.app.Authenticate
    ) -> Response:
        if not authenticate(state.settings, request.headers.get("authorization")):
            return Response(status_code=401, headers={"WWW-Authenticate": "Basic"})
        body = json.loads(await request.body())
        token = await state.tokens.mint(str(body["callId"]), str(body["accountId"]))
        return Response(bot.app.bxml_answer(state.settings, token), media_type="application/xml")

    # cast: the first parameter is named state, not bot (bot.app passes it positionally).
    bot.app.handle_webhook = cast(Any, handle_webhook)
    return create_app()


def _ignores_encoding() -> FastAPI:
    """Always sends μ-law, whatever BOT_OUTBOUND_ENCODING says."""
    original = bot.pipeline.make_serializer

    def make_serializer(settings: Settings, call: Any, stream_id: str) -> Any:
        from dataclasses import replace

        return original(replace(settings, outbound_encoding="pcmu"), call, stream_id)

    bot.pipeline.make_serializer = make_serializer
    return create_app()


def _hears_silence() -> FastAPI:
    """Its STT "hears" a line in every 2.5 s of caller audio, speech or not."""
    from pipecat.frames.frames import TranscriptionFrame
    from pipecat.utils.time import time_now_iso8601

    async def run_stt(self: Any, audio: bytes) -> AsyncGenerator[Any, None]:
        self._heard_bytes = getattr(self, "_heard_bytes", 0) + len(audio)
        if self._heard_bytes >= 2.5 * 8000 * 2:
            self._heard_bytes = 0
            yield TranscriptionFrame("Are you still there?", "", time_now_iso8601())
        else:
            yield None

    simulator.standins.stt.ScriptedSTTService.run_stt = run_stt  # type: ignore[method-assign]
    return create_app()


FLAWS: dict[str, Callable[[], FastAPI]] = {
    "no_keepalive": _no_keepalive,
    "silent": _silent,
    "deaf": _deaf,
    "no_clear": _no_clear,
    "hangup_retry": _hangup_retry,
    "serializer_hangup_only": _serializer_hangup_only,
    "no_end_call": _no_end_call,
    "response_root_transfer": _response_root_transfer,
    "trusts_start_ids": lambda: create_app(resolve_ids=trusting_start_ids),
    "reusable_tokens": lambda: create_app(store=ReusableTokenStore(60.0)),
    "eternal_tokens": lambda: create_app(store=EternalTokenStore(1.0)),
    "no_challenge_header": _no_challenge_header,
    "accepts_any_credentials": lambda: create_app(authenticate=lambda _s, _h: True),
    "password_only": lambda: create_app(authenticate=_password_only),
    "missing_is_fine": lambda: create_app(authenticate=_missing_is_fine),
    "any_scheme": lambda: create_app(authenticate=_any_scheme),
    "naive_webhook": _naive_webhook,
    "ignores_encoding": _ignores_encoding,
    "hears_silence": _hears_silence,
}
_built: dict[str, FastAPI] = {}


def __getattr__(name: str) -> FastAPI:
    """Build the flawed bot ``name`` (once) when ``--app tests.bots.flawed:NAME`` asks."""
    if name not in FLAWS:
        raise AttributeError(name)
    if name not in _built:
        _built[name] = FLAWS[name]()
    return _built[name]
