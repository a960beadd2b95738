"""What ``bwsim record`` keeps of each call, and when it writes it to the call's folder.

Calls are told apart by the ``callId`` of their webhooks (a transfer's webhooks, which
carry the first call's id as ``parentCallId``, join that call). A media stream belongs to
the call whose answer asked for it: the recorder's stream URL carries a key for it.

Each call's clock starts when its first webhook reaches the recorder (monotonic), and
every time in its archive is milliseconds since then. Webhooks, answers and stream
records are written at once; frames are kept in memory and written whenever the call's
archive is saved: after each webhook, when a stream closes, at the ``disconnect`` webhook,
and when the recorder stops. A crash loses at most the frames since the last save.

Credentials are never kept: ``Authorization`` headers become ``Basic ***``/``Bearer ***``
and passwords in answers ``***`` (:mod:`simulator.protocol.redact`); with ``--redact``
phone numbers and ids are replaced with stable fakes too (:mod:`simulator.archive.redaction`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from simulator.archive.model import (
    WAV_FILE,
    CallArchive,
    FrameRecord,
    Sender,
    StreamRecord,
    WebhookRecord,
)
from simulator.archive.redaction import Redactor
from simulator.archive.tracks import recorded_audio
from simulator.call.audio_files import write_stereo_wav
from simulator.protocol.redact import MASK, redact, redact_text

__all__ = ["CallCapture", "Captures", "StreamTarget"]

IDLE_FORGET_S = 600.0
"""A complete call idle this long is dropped from memory (its archive is already written)."""
_COOKIES = frozenset({"cookie", "set-cookie"})
"""Headers that may carry a session: masked whole, like credentials."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _version() -> str:
    try:
        return f"bwsim {version('bwsim')}"
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "bwsim (unknown version)"


@dataclass
class StreamTarget:
    """Where a rewritten ``<StartStream>`` really goes, and whose call it is."""

    call: CallCapture
    destination: str
    """The destination the bot asked for, as it wrote it."""
    upstream: str
    """The ``ws(s)://`` URL the recorder connects to (the destination, resolved)."""


@dataclass
class CallCapture:
    """One call being recorded."""

    key: str
    t0: float
    folder: Path
    archive: CallArchive
    redactor: Redactor | None
    open_streams: int = 0
    disconnected: bool = False
    announced: bool = False
    _save_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def ms(self, at: float | None = None) -> float:
        """Milliseconds since the call's first webhook reached the recorder."""
        return round(((time.monotonic() if at is None else at) - self.t0) * 1000, 3)

    @property
    def finished(self) -> bool:
        """The call hung up and none of its streams is open."""
        return self.disconnected and self.open_streams == 0

    @property
    def complete(self) -> bool:
        """Worth announcing: it hung up, or every stream it opened has closed."""
        if self.open_streams:
            return False
        return self.disconnected or bool(self.archive.streams)

    def clean(self, text: str, *, learn: bool = True) -> str:
        """``text`` as stored: credentials masked, and with ``--redact`` ids replaced."""
        text = redact_text(text)
        return self.redactor.text(text, learn=learn) if self.redactor else text

    def clean_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """Headers as stored: secret ones masked (``Basic ***``), ids replaced."""
        masked: dict[str, str] = redact(headers)
        return {
            k: MASK if k.lower() in _COOKIES and v else self.clean(v) for k, v in masked.items()
        }

    def add_webhook(self, record: WebhookRecord) -> WebhookRecord:
        """Keep a webhook (its texts cleaned)."""
        record.body = self.clean(record.body)  # first: the ids it holds are learned
        record.path = self.clean(record.path)
        record.headers = self.clean_headers(record.headers)
        self.archive.webhooks.append(record)
        self.touch(record.at_ms)
        return record

    def answered(
        self,
        record: WebhookRecord,
        status: int | None,
        answer: str,
        headers: dict[str, str],
        error: str | None,
    ) -> None:
        """Keep the bot's answer to a webhook (or why none came)."""
        record.status = status
        record.answer = self.clean(answer)
        record.answer_headers = self.clean_headers(headers)
        record.answered_ms = self.ms()
        record.error = error
        self.touch(record.answered_ms)
        if record.event_type == "disconnect":
            self.disconnected = True

    def open_stream(self, destination: str) -> StreamRecord:
        """Start recording a stream (its socket was accepted at both ends)."""
        stream = StreamRecord(
            index=len(self.archive.streams),
            destination=self.clean(destination),
            opened_ms=self.ms(),
        )
        self.archive.streams.append(stream)
        self.open_streams += 1
        return stream

    def frame(self, stream: StreamRecord, sender: Sender, data: str | bytes, at: float) -> None:
        """Keep one frame as it crossed (``at``: monotonic time it arrived)."""
        at_ms = self.ms(at)
        if isinstance(data, bytes):
            record = FrameRecord(
                at_ms, stream.index, sender, binary=base64.b64encode(data).decode()
            )
        else:
            if self.redactor is not None:
                # Audio frames (media, playAudio) carry a payload: only known values are
                # replaced there, never numbers searched for in base64.
                data = self.redactor.text(data, learn='"payload"' not in data)
            record = FrameRecord(at_ms, stream.index, sender, text=data)
            # A base64 payload holds no quote: only a start frame can contain '"start"'.
            if stream.start is None and sender == "caller" and '"start"' in data:
                message = record.message()
                if message is not None and message.get("eventType") == "start":
                    stream.start = message
        self.archive.frames.append(record)
        self.archive.ended_ms = max(self.archive.ended_ms or 0.0, at_ms)

    def close_stream(self, stream: StreamRecord, by: Sender, code: int | None, reason: str) -> None:
        """Record how a stream ended (once: the first close wins)."""
        if stream.closed_ms is not None:
            return
        stream.closed_ms = self.ms()
        stream.closed_by = by
        stream.close_code = code
        stream.close_reason = reason
        self.open_streams = max(self.open_streams - 1, 0)
        self.touch(stream.closed_ms)

    def touch(self, at_ms: float) -> None:
        """Note activity at ``at_ms`` (the archive's ``ended_ms`` is the last)."""
        self.archive.ended_ms = max(self.archive.ended_ms or 0.0, at_ms)

    def snapshot(self) -> CallArchive:
        """A copy of the archive as it stands, safe to write from another thread."""
        a = self.archive
        return dataclasses.replace(
            a,
            webhooks=[dataclasses.replace(w) for w in a.webhooks],
            streams=[dataclasses.replace(s) for s in a.streams],
            frames=sorted(a.frames, key=lambda f: f.at_ms),
            voice_api=None if a.voice_api is None else list(a.voice_api),
        )

    async def save(self) -> None:
        """Write the archive (``archive.json``, ``frames.jsonl``, ``call.wav``) now."""
        async with self._save_lock:
            await asyncio.to_thread(write_archive, self.snapshot(), self.folder)


def write_archive(archive: CallArchive, folder: Path) -> Path:
    """Write one call's archive and its stereo recording into ``folder``."""
    archive.save(folder)
    audio = recorded_audio(archive)
    write_stereo_wav(folder / WAV_FILE, audio.caller, audio.bot)
    return folder


class Captures:
    """Every call the recorder has seen, by key, and the streams it rewrote."""

    def __init__(
        self,
        archive_dir: Path,
        *,
        redact_ids: bool = False,
        on_written: Callable[[CallCapture], None] | None = None,
    ) -> None:
        self.archive_dir = archive_dir
        self.redactor = Redactor() if redact_ids else None
        self.on_written = on_written
        self.calls: dict[str, CallCapture] = {}
        self.streams: dict[str, StreamTarget] = {}
        self.written: list[Path] = []
        self.voice_api = False
        """Whether the recorder stands in front of the Voice API too (``--voice-api``)."""
        self._counter = 0

    def call_for(self, body: str) -> CallCapture:
        """The call a webhook belongs to (a new one for a new ``callId``)."""
        data = _json_object(body)
        parent = data.get("parentCallId")
        call_id = data.get("callId")
        for candidate in (parent, call_id):
            if isinstance(candidate, str) and candidate in self.calls:
                return self.calls[candidate]
        self._forget_idle()
        self._counter += 1
        key = call_id if isinstance(call_id, str) and call_id else f"call{self._counter}"
        return self._new(key, call_id if isinstance(call_id, str) else None)

    def _new(self, key: str, call_id: str | None) -> CallCapture:
        now = datetime.now(UTC)
        shown = call_id or key
        if self.redactor is not None and call_id:
            shown = self.redactor.fake_id(call_id, "callId")
        name = f"{now:%Y%m%d-%H%M%S}-{_UNSAFE.sub('_', shown)[:80]}"
        folder = self.archive_dir / name
        n = 2
        while folder.exists():
            folder = self.archive_dir / f"{name}-{n}"
            n += 1
        archive = CallArchive(
            recorded_at=now.isoformat(timespec="seconds"),
            recorded_by=_version(),
            redacted=self.redactor is not None,
            voice_api=[] if self.voice_api else None,
        )
        call = CallCapture(
            key=key, t0=time.monotonic(), folder=folder, archive=archive, redactor=self.redactor
        )
        self.calls[key] = call
        return call

    async def saved(self, call: CallCapture) -> None:
        """Save a call's archive; announce it the first time it is complete.

        A call is forgotten once it hung up with no stream open; one whose ``disconnect``
        webhook never comes through the recorder (it may go elsewhere) is forgotten when a
        new call begins :data:`IDLE_FORGET_S` after its last activity.
        """
        await call.save()
        if call.complete:
            self._announce(call)
        if call.finished:
            self._forget(call)

    def _forget(self, call: CallCapture) -> None:
        self.calls.pop(call.key, None)
        for token in [t for t, s in self.streams.items() if s.call is call]:
            del self.streams[token]

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for call in list(self.calls.values()):
            idle_s = now - call.t0 - (call.archive.ended_ms or 0.0) / 1000
            if call.announced and call.open_streams == 0 and idle_s > IDLE_FORGET_S:
                self._forget(call)

    def _announce(self, call: CallCapture) -> None:
        if not call.announced:
            call.announced = True
            self.written.append(call.folder)
            if self.on_written is not None:
                self.on_written(call)

    def save_all(self) -> None:
        """Write every call still open (the recorder is stopping), and announce each."""
        for call in list(self.calls.values()):
            if call.archive.webhooks or call.archive.streams:
                write_archive(call.snapshot(), call.folder)
                self._announce(call)
        self.calls.clear()
        self.streams.clear()


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
