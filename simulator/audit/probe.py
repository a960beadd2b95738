"""A hand-driven media socket, for the checks that must send what a call never would.

:class:`RawStream` connects to the bot exactly as Bandwidth does (the ``websockets``
client, the ``destinationUsername``/``destinationPassword`` header if the BXML asked for
one) but lets the check choose every frame: a ``start`` naming someone else's call, a
token used twice, ``media`` before ``start``, garbage. Once started it can stream μ-law
silence on the 20 ms clock so a bot that accepted the socket sees a live call.

:func:`refusal` is the Sans-I/O verdict on a probe: a refusal is an HTTP error on the
upgrade (uvicorn turns a close-before-accept into 403) or a close with 1008 before the
bot sent any audio (docs/pipecat.md §4); anything else is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from simulator.call.tasks import reap
from simulator.protocol.codec import FRAME_MS
from simulator.protocol.media import (
    SILENT_FRAME,
    StreamConfig,
    media_event,
    start_event,
    stop_event,
)

__all__ = ["ProbeResult", "RawStream", "refusal", "start_frame"]

_KEPT_FRAMES = 20


def start_frame(
    *,
    account_id: str,
    call_id: str,
    stream_id: str,
    stream_name: str = "bot",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A ``start`` frame shaped as Bandwidth's (docs/bandwidth.md §1.5)."""
    config = StreamConfig(
        account_id=account_id,
        call_id=call_id,
        stream_id=stream_id,
        stream_name=stream_name,
        metadata_overrides=extra,
    )
    return json.dumps(start_event(config))


def media_frame(sequence: int, payload: bytes = SILENT_FRAME) -> str:
    """One ``media`` frame (160 μ-law bytes, string ``sequenceNumber``)."""
    return json.dumps(media_event(payload, sequence))


@dataclass
class ProbeResult:
    """What a probe saw: how the upgrade went, what the bot sent, how it closed."""

    url: str
    outcome: Literal["pending", "http-refused", "connection-error", "closed", "open"] = "pending"
    http_status: int | None = None
    error: str | None = None
    close_code: int | None = None
    close_reason: str = ""
    closed_after_ms: float | None = None
    play_audio: int = 0
    clears: int = 0
    other_frames: int = 0
    frames: list[str] = field(default_factory=list)

    def to_evidence(self) -> dict[str, Any]:
        """JSON-ready (the URL's token is one-time: spent or refused by now)."""
        return {
            "url": self.url,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "error": self.error,
            "close_code": self.close_code,
            "close_reason": self.close_reason,
            "closed_after_ms": self.closed_after_ms,
            "bot_frames": {
                "playAudio": self.play_audio,
                "clear": self.clears,
                "other": self.other_frames,
            },
            "first_frames": self.frames[:5],
        }


def refusal(probe: ProbeResult) -> tuple[bool, str]:
    """Whether the bot refused the socket, and how (one phrase for the report)."""
    if probe.outcome == "http-refused":
        form = ", uvicorn's form of a close before accept" if probe.http_status == 403 else ""
        return True, f"HTTP {probe.http_status} on the upgrade{form}"
    if probe.outcome == "closed" and probe.close_code == 1008 and probe.play_audio == 0:
        return True, "accepted, then closed with 1008 before any audio"
    if probe.outcome == "closed":
        what = f"closed with code {probe.close_code}"
        if probe.play_audio:
            what += f" after sending {probe.play_audio} playAudio frame(s)"
        return False, what
    if probe.outcome == "open":
        return False, (f"accepted and kept open ({probe.play_audio} playAudio frame(s) received)")
    return False, f"the connection failed: {probe.error}"


class RawStream:
    """One media socket to the bot, frame by frame."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.result = ProbeResult(url=url)
        self._ws: ClientConnection | None = None
        self._opened = 0.0
        self._receiver: asyncio.Task[None] | None = None
        self._pacer: asyncio.Task[None] | None = None
        self._sequence = 0
        self._ending = False
        self.closed = asyncio.Event()
        self.audio = asyncio.Event()

    async def open(self, timeout_s: float = 5.0) -> bool:
        """Connect; False (with the reason in :attr:`result`) if the upgrade failed."""
        try:
            self._ws = await connect(
                self.url,
                additional_headers=self.headers,
                open_timeout=timeout_s,
                close_timeout=2,
                proxy=None,  # loopback only, whatever HTTP(S)_PROXY says
                compression=None,
                ping_interval=None,
                max_size=4 * 1024 * 1024,
                user_agent_header=None,
            )
        except InvalidStatus as exc:
            self.result.outcome = "http-refused"
            self.result.http_status = exc.response.status_code
            self.closed.set()
            return False
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.result.outcome = "connection-error"
            self.result.error = f"{type(exc).__name__}: {exc}"
            self.closed.set()
            return False
        self._opened = time.monotonic()
        self.result.outcome = "open"
        self._receiver = asyncio.create_task(self._receive(self._ws), name="bwsim-probe-recv")
        return True

    async def send(self, frame: str | bytes) -> bool:
        """Send one frame; False if the socket is already closed."""
        if self._ws is None:
            return False
        try:
            await self._ws.send(frame)
        except ConnectionClosed:
            return False
        return True

    def stream_silence(self) -> None:
        """Send μ-law silence every 20 ms (on an absolute clock) until closed."""
        if self._ws is not None and self._pacer is None:
            self._pacer = asyncio.create_task(self._pace(self._ws), name="bwsim-probe-media")

    async def _pace(self, ws: ClientConnection) -> None:
        started = time.monotonic()
        frame = 0
        try:
            while True:
                self._sequence += 1
                await ws.send(media_frame(self._sequence))
                frame += 1
                delay = started + frame * FRAME_MS / 1000 - time.monotonic()
                await asyncio.sleep(max(0.0, delay))
        except ConnectionClosed:
            return

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._note(message)
        except ConnectionClosed:
            pass
        finally:
            if not self._ending:  # the bot closed (or the connection died) first
                rcvd = ws.protocol.close_rcvd
                self.result.outcome = "closed"
                self.result.closed_after_ms = round((time.monotonic() - self._opened) * 1000, 1)
                self.result.close_code = rcvd.code if rcvd is not None else 1006
                self.result.close_reason = rcvd.reason if rcvd is not None else ""
            self.closed.set()

    def _note(self, message: str | bytes) -> None:
        kind = "binary"
        if isinstance(message, str):
            try:
                data = json.loads(message)
                kind = str(data.get("eventType")) if isinstance(data, dict) else "json"
            except ValueError:
                kind = "text"
        if kind == "playAudio":
            self.result.play_audio += 1
            self.audio.set()
        elif kind == "clear":
            self.result.clears += 1
        else:
            self.result.other_frames += 1
        if len(self.result.frames) < _KEPT_FRAMES:
            self.result.frames.append(kind)

    async def wait(self, seconds: float, *, until_audio: bool = False) -> None:
        """Listen for ``seconds``, or until the bot closes (or first audio, if asked)."""
        waits = [asyncio.ensure_future(self.closed.wait())]
        if until_audio:
            waits.append(asyncio.ensure_future(self.audio.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def close(self, *, stop: bool = True) -> ProbeResult:
        """End the probe as a caller hanging up (``stop``, close 1000); return the result."""
        ws = self._ws
        if ws is not None and not self.closed.is_set():
            self._ending = True
            if stop:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(json.dumps(stop_event({})))
            with contextlib.suppress(ConnectionClosed):
                await ws.close(1000)
        await self._finish()
        return self.result

    async def drop(self) -> ProbeResult:
        """End the probe as a network failure: no ``stop``, no close frame."""
        if self._ws is not None and not self.closed.is_set():
            self._ending = True
            self._ws.transport.abort()
        await self._finish()
        return self.result

    async def _finish(self) -> None:
        for task in (self._pacer, self._receiver):
            if task is not None:
                await reap(task, grace_s=3)
        self.closed.set()
