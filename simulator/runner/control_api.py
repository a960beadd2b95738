"""The control API of ``bwsim serve``: place a call on request, for a bot started by hand.

``POST /_bwsim/calls`` with a JSON object runs one call to its end and answers with the
call's summary (``"schema": 1``) plus ``passed`` and ``problems``. Keys: ``url`` of a
loopback bot; ``audio`` the caller says, a file path or ``bwsim:audio/NAME.wav`` for a
packaged recording (whose transcript becomes ``caller_lines`` unless they are given);
``channel`` the one it speaks of a file of several (``left``, ``right`` or a 0-based
number; such a file without it is refused); and optionally ``caller_lines``,
``linger_ms``, ``max_call_s``, ``auth``, ``webhook_path``, ``out``. A request that
cannot be used is a 400 ``validation`` error; only loopback bots are called.

Like every ``/_bwsim/*`` route it takes requests from the run's own parts only
(:mod:`simulator.rest.control_guard`: the token, a loopback ``Host``, JSON), and what
it takes is bounded: ``out`` is a folder under serve's working directory, ``audio``
that cannot be read gets one error whatever the reason (the answer never tells whether
a path exists), and ``max_call_s``/``linger_ms`` are finite, positive and at most
:data:`MAX_CALL_S` s / :data:`MAX_LINGER_MS` ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.call.audio_files import load_caller_audio, parse_channel
from simulator.call.callers import linger_caller
from simulator.call.options import DEFAULT_MAX_CALL_S, CallOptions
from simulator.call.session import CallSession
from simulator.errors import AudioFileError
from simulator.judge.verdicts import call_problems
from simulator.protocol.codec import Pcm
from simulator.protocol.webhook_auth import AUTH_MODES, AuthMode
from simulator.runner.harness import Harness
from simulator.suite import resolve_audio_file, transcript

__all__ = [
    "CALLS_PATH",
    "MAX_CALL_S",
    "MAX_LINGER_MS",
    "install",
    "place_call_route",
]

CALLS_PATH = "/_bwsim/calls"
"""Where the control API takes calls to place, under the fake's base URL."""
MAX_CALL_S = 3600.0
"""The longest call the control API places (one hour)."""
MAX_LINGER_MS = 600_000.0
"""The longest the caller stays on after its audio (ten minutes)."""
_KEYS = frozenset(
    {
        *("url", "audio", "channel", "caller_lines", "linger_ms", "max_call_s", "auth"),
        *("webhook_path", "out"),
    }
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
    max_call_s = _limit(body, "max_call_s", DEFAULT_MAX_CALL_S, MAX_CALL_S, "seconds")
    mode: AuthMode = auth
    return CallOptions(
        auth_mode=mode,
        webhook_path=str(body.get("webhook_path", "/")),
        max_call_s=max_call_s,
        caller_lines=lines,
        webhook_username=None if mode == "none" else h.credentials.webhook_username,
        webhook_password=None if mode == "none" else h.credentials.webhook_password,
    )


def _limit(body: dict[str, Any], key: str, default: float, most: float, unit: str) -> float:
    """``body[key]``: a finite number of ``unit`` above 0 and at most ``most``."""
    value = body.get(key, default)
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int too large for a float
            number = float(value)
    if number is None or not math.isfinite(number) or not 0 < number <= most:
        raise _BadRequest(
            f"{key} must be a number of {unit} above 0 and at most {most:g}, got {value!r}"
        )
    return number


def _out_dir(value: Any) -> Path:
    """``out`` as a folder under the working directory; anything else is refused."""
    here = Path.cwd().resolve()
    if not isinstance(value, str) or not value.strip():
        raise _BadRequest("out must be the path of a folder under serve's working directory")
    path = (here / value).resolve()  # symlinks followed: a link out of the folder is out
    if not path.is_relative_to(here):
        raise _BadRequest(
            f"out must be a folder under serve's working directory {here}, got {value!r}: "
            "give a relative path such as calls/first"
        )
    return path


def _audio(value: Any, channel: Any) -> tuple[Path, Pcm]:
    """The caller's recording, readable; one error for any that is not, whatever the reason.

    The answer never tells whether a path exists, so the API cannot be used to probe
    the file system.
    """
    try:
        picked = None if channel is None else parse_channel(channel)
    except ValueError as exc:
        raise _BadRequest(f"channel: {exc}") from None
    try:
        path = resolve_audio_file(str(value))
        samples = load_caller_audio(path, picked)
    except (AudioFileError, OSError, ValueError):
        raise _BadRequest(
            f"audio {str(value)!r} cannot be used as the caller's recording: give a readable "
            "WAV (FLAC, OGG, MP3) file of at most 10 minutes, or bwsim:audio/NAME.wav for a "
            'packaged one; a file of more than one channel needs "channel": "left" (or '
            "right, or a 0-based number) and must have that channel"
        ) from None
    return path, samples


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
            audio, voice = (
                _audio(body["audio"], body.get("channel")) if body.get("audio") else (None, None)
            )
            out = _out_dir(body["out"]) if "out" in body else None
            if audio is not None and "caller_lines" not in body:
                # what a scripted STT hears: the recording's transcript, when it has one
                said = transcript(audio)
                options = replace(options, caller_lines=[said] if said else [])
            linger = _limit(body, "linger_ms", 2000.0, MAX_LINGER_MS, "milliseconds")
        except (ValueError, _BadRequest, AudioFileError) as exc:
            return 400, {"type": "validation", "description": str(exc)}
        session = CallSession(h.fake, url, options=options, caller=linger_caller(voice, linger))
        result = await session.run()
        # Requests the bot was refused (its hooks report them to a file) count against
        # the call, as they do for a bot bwsim started.
        result.violations.extend(h.collect_child_violations())
        summary = result.summary()
        if out is not None:
            await asyncio.to_thread(result.write, out)
        problems = call_problems(result)
        return 200, {**summary, "passed": not problems, "problems": problems}

    return place


def install(h: Harness) -> None:
    """Add ``POST /_bwsim/calls`` to the fake Bandwidth of harness ``h``."""
    h.app.add_control_route("POST", CALLS_PATH, place_call_route(h))
