"""The control API of ``bwsim serve``: place a call on request, for a bot started by hand.

``POST /_bwsim/calls`` with a JSON object runs one call to its end and answers with the
call's summary (``"schema": 1``) plus ``passed`` and ``problems``. Keys: ``url`` of a
loopback bot; ``audio`` the caller says, a file path or ``bwsim:audio/NAME.wav`` for a
packaged recording (whose transcript becomes ``caller_lines`` unless they are given);
and optionally ``caller_lines``, ``linger_ms``, ``max_call_s``, ``auth``,
``webhook_path``, ``out``. A request that cannot be used is a 400 ``validation`` error;
only loopback bots are called.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.call.audio_files import load_caller_audio
from simulator.call.callers import linger_caller
from simulator.call.options import DEFAULT_MAX_CALL_S, CallOptions
from simulator.call.session import CallSession
from simulator.errors import AudioFileError
from simulator.judge.verdicts import call_problems
from simulator.protocol.webhook_auth import AUTH_MODES, AuthMode
from simulator.runner.harness import Harness
from simulator.suite import resolve_audio_file, transcript

__all__ = ["CALLS_PATH", "bot_environment", "install", "place_call_route"]

CALLS_PATH = "/_bwsim/calls"
"""Where the control API takes calls to place, under the fake's base URL."""
_KEYS = frozenset(
    {"url", "audio", "caller_lines", "linger_ms", "max_call_s", "auth", "webhook_path", "out"}
)


class _BadRequest(ValueError):
    """The request to place a call cannot be used; the message says why."""


def _loopback(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if parts.scheme not in ("http", "https") or not ok or parts.port is None:
        raise _BadRequest(
            f"url must be a bot on loopback such as http://127.0.0.1:7860, got {url!r}: "
            "bwsim never reaches beyond loopback"
        )
    return url.rstrip("/")


def _options(body: dict[str, Any], h: Harness) -> CallOptions:
    auth = body.get("auth", "challenge")
    if auth not in AUTH_MODES:
        raise _BadRequest(f"auth must be one of {list(AUTH_MODES)}, got {auth!r}")
    lines = body.get("caller_lines", [])
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise _BadRequest("caller_lines must be a list of strings")
    try:
        max_call_s = float(body.get("max_call_s", DEFAULT_MAX_CALL_S))
    except (TypeError, ValueError):
        raise _BadRequest("max_call_s must be a number of seconds") from None
    mode: AuthMode = auth
    return CallOptions(
        auth_mode=mode,
        webhook_path=str(body.get("webhook_path", "/")),
        max_call_s=max_call_s,
        caller_lines=lines,
        webhook_username=None if mode == "none" else h.credentials.webhook_username,
        webhook_password=None if mode == "none" else h.credentials.webhook_password,
    )


def _body(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise _BadRequest(f"unknown keys {unknown}; known: {sorted(_KEYS)}")
    return body


def place_call_route(h: Harness) -> Any:
    """The ``POST /_bwsim/calls`` handler for harness ``h``."""

    async def place(raw: bytes) -> tuple[int, Any]:
        try:
            body = _body(raw)
            url = _loopback(str(body.get("url", "")))
            options = _options(body, h)
            audio = resolve_audio_file(str(body["audio"])) if body.get("audio") else None
            voice = load_caller_audio(audio) if audio is not None else None
            if audio is not None and "caller_lines" not in body:
                # what a scripted STT hears: the recording's transcript, when it has one
                said = transcript(audio)
                options = replace(options, caller_lines=[said] if said else [])
            linger = float(body.get("linger_ms", 2000))
        except (ValueError, _BadRequest, AudioFileError) as exc:
            return 400, {"type": "validation", "description": str(exc)}
        session = CallSession(h.fake, url, options=options, caller=linger_caller(voice, linger))
        result = await session.run()
        # Requests the bot was refused (its hooks report them to a file) count against
        # the call, as they do for a bot bwsim started.
        result.violations.extend(h.collect_child_violations())
        summary = result.summary()
        if body.get("out"):
            await asyncio.to_thread(result.write, Path(str(body["out"])))
        problems = call_problems(result)
        return 200, {**summary, "passed": not problems, "problems": problems}

    return place


def install(h: Harness) -> None:
    """Add ``POST /_bwsim/calls`` to the fake Bandwidth of harness ``h``."""
    h.app.add_control_route("POST", CALLS_PATH, place_call_route(h))


def bot_environment(h: Harness) -> dict[str, str]:
    """The environment to start a bot with so that it talks to the fake of harness ``h``."""
    env = h.credentials.environment(port=None, proxy_host="127.0.0.1:7860")
    env.update(
        {
            "BANDWIDTH_OAUTH_URL": f"{h.api_base}/api/v1/oauth2/token",
            "BANDWIDTH_VOICE_API_URL": f"{h.api_base}/api/v2",
            "BWSIM_CONTROL_URL": f"{h.api_base}/_bwsim",
            # a bot that offers simulator.standins picks them under bwsim (as for --app)
            "BWSIM_STANDINS": "1",
        }
    )
    return env
