"""The call archive: one recorded call, as ``bwsim record`` writes it and ``bwsim replay`` reads it.

An archive is a folder per call (``docs/archive.md`` documents every field)::

    <archive dir>/<call folder>/
        archive.json   the webhooks and answers, the streams, the Voice API requests
        frames.jsonl   every media-stream frame, caller's and bot's, one JSON object a line
        call.wav       the call as heard: caller on the left, the bot on the right

Every time is milliseconds since the first webhook reached the recorder (``at_ms``), the
same origin as bwsim's own call clock (zero when ``initiate`` is sent). The format is
versioned (:data:`SCHEMA`); a reader refuses a schema it does not know, naming it. A file
that is not a valid archive is an :class:`ArchiveError` naming the file and the field,
raised before anything runs (exit code 2).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from simulator.errors import ConfigError

__all__ = [
    "ARCHIVE_FILE",
    "FRAMES_FILE",
    "SCHEMA",
    "WAV_FILE",
    "ApiRecord",
    "ArchiveError",
    "CallArchive",
    "FrameRecord",
    "Sender",
    "StreamRecord",
    "WebhookRecord",
]

SCHEMA: Final = 1
"""The archive format's version; bumped on any change a schema-1 reader would misread."""
ARCHIVE_FILE: Final = "archive.json"
FRAMES_FILE: Final = "frames.jsonl"
WAV_FILE: Final = "call.wav"

Sender = Literal["caller", "bot"]
"""Who sent a frame or closed a stream: ``caller`` is Bandwidth's side, ``bot`` the bot's."""


class ArchiveError(ConfigError):
    """A call archive cannot be read: names the file, the field and what to do."""

    def __init__(self, path: Path | str, message: str, *, field_name: str | None = None) -> None:
        self.path = Path(path)
        self.field_name = field_name
        self.reason = message
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.path}: {self.field_name}" if self.field_name else str(self.path)
        return f"{where}: {self.reason}"


@dataclass
class WebhookRecord:
    """One webhook Bandwidth sent and what the bot answered."""

    at_ms: float
    """When the webhook reached the recorder."""
    method: str
    path: str
    """The request's path and query, as Bandwidth asked for it."""
    headers: dict[str, str]
    """The request's headers; credentials are masked (``Basic ***``), never stored."""
    body: str
    """The request body as text (a JSON callback, or a form for GET-style callbacks)."""
    status: int | None = None
    """The bot's answer status; None when the bot gave no answer (see ``error``)."""
    answer: str = ""
    """The bot's answer body (BXML) as the bot sent it, before the recorder's rewriting."""
    answer_headers: dict[str, str] = field(default_factory=dict)
    answered_ms: float | None = None
    error: str | None = None
    """Why no answer came (refused connection, timeout), or None."""

    @property
    def event_type(self) -> str | None:
        """The callback's ``eventType`` (``initiate``, ``answer``, ``disconnect`` …), if any."""
        data = self.json_body()
        value = data.get("eventType") if data is not None else None
        return value if isinstance(value, str) else None

    def json_body(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


@dataclass
class StreamRecord:
    """One media stream: where it went, its ``start`` frame and how it ended."""

    index: int
    """The stream's number in this call (0 first); frames name their stream by it."""
    destination: str
    """The ``<StartStream destination>`` the bot asked for (before the recorder's rewriting)."""
    opened_ms: float
    start: dict[str, Any] | None = None
    """The ``start`` frame Bandwidth sent (metadata, ``streamParams``), or None if none came."""
    closed_ms: float | None = None
    closed_by: Sender | None = None
    close_code: int | None = None
    close_reason: str = ""

    @property
    def stream_params(self) -> dict[str, Any]:
        """The ``start`` frame's ``streamParams`` (the ``<StreamParam>``s), or none."""
        params = (self.start or {}).get("streamParams")
        return dict(params) if isinstance(params, Mapping) else {}

    @property
    def metadata(self) -> dict[str, Any]:
        """The ``start`` frame's ``metadata`` (ids, tracks, encoding), or none."""
        meta = (self.start or {}).get("metadata")
        return dict(meta) if isinstance(meta, Mapping) else {}


@dataclass
class FrameRecord:
    """One media-stream frame as it crossed the recorder."""

    at_ms: float
    stream: int
    sender: Sender
    text: str | None = None
    """A text frame (all of Bandwidth's are JSON text), exactly as sent."""
    binary: str | None = None
    """A binary frame, base64 (Bandwidth sends none; a bot that does is recorded as is)."""

    def data(self) -> str | bytes:
        """The frame as it was sent: text, or the binary frame's bytes."""
        if self.text is not None:
            return self.text
        return base64.b64decode(self.binary or "")

    def message(self) -> dict[str, Any] | None:
        """The frame as a JSON object, or None (binary, not JSON, not an object)."""
        if self.text is None:
            return None
        try:
            data = json.loads(self.text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def event_type(self) -> str | None:
        """The frame's ``eventType`` (``media``, ``playAudio``, ``clear`` …), if any."""
        message = self.message()
        value = message.get("eventType") if message is not None else None
        return value if isinstance(value, str) else None


@dataclass
class ApiRecord:
    """One Voice API request the bot made through the recorder, and Bandwidth's answer."""

    at_ms: float
    method: str
    path: str
    body: str
    status: int | None = None
    answer: str = ""


@dataclass
class CallArchive:
    """One recorded call."""

    recorded_at: str
    """When the call was recorded (ISO 8601, UTC)."""
    recorded_by: str
    """The bwsim version that recorded it."""
    webhooks: list[WebhookRecord] = field(default_factory=list)
    streams: list[StreamRecord] = field(default_factory=list)
    frames: list[FrameRecord] = field(default_factory=list)
    voice_api: list[ApiRecord] | None = None
    """The bot's Voice API requests, when the recorder also stood in front of the Voice
    API; None when it did not (then who hung up is not known from the archive)."""
    redacted: bool = False
    """Whether phone numbers and ids were replaced with stable fakes (``--redact``)."""
    ended_ms: float | None = None
    """When the recorder saw the call's last webhook or frame."""
    schema: int = SCHEMA
    path: Path | None = field(default=None, compare=False)
    """The folder the archive was read from or written to."""

    @property
    def call_id(self) -> str | None:
        """The ``callId`` of the call's first webhook, if it has one."""
        for hook in self.webhooks:
            body = hook.json_body()
            if body is not None and isinstance(body.get("callId"), str):
                return str(body["callId"])
        return None

    def first_webhook(self) -> WebhookRecord:
        """The webhook that began the call (``initiate`` or ``answer``)."""
        if not self.webhooks:
            raise ArchiveError(self._file(), "the archive holds no webhook", field_name="webhooks")
        return self.webhooks[0]

    def frames_of(self, stream: int, sender: Sender) -> Iterator[FrameRecord]:
        """One stream's frames from one side, in the order they crossed."""
        return (f for f in self.frames if f.stream == stream and f.sender == sender)

    def _file(self) -> Path:
        return (self.path or Path()) / ARCHIVE_FILE

    # -- writing and reading --------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write ``archive.json`` and ``frames.jsonl`` into ``directory``; returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        head = {
            "schema": self.schema,
            "recorded_at": self.recorded_at,
            "recorded_by": self.recorded_by,
            "redacted": self.redacted,
            "call_id": self.call_id,
            "ended_ms": self.ended_ms,
            "webhooks": [asdict(w) for w in self.webhooks],
            "streams": [asdict(s) for s in self.streams],
            "voice_api": None if self.voice_api is None else [asdict(a) for a in self.voice_api],
        }
        (directory / ARCHIVE_FILE).write_text(
            json.dumps(head, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        with (directory / FRAMES_FILE).open("w", encoding="utf-8") as fh:
            for frame in self.frames:
                record = {k: v for k, v in asdict(frame).items() if v is not None}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.path = directory
        return directory

    @classmethod
    def load(cls, path: Path | str) -> CallArchive:
        """Read an archive from its folder (or its ``archive.json``)."""
        p = Path(path)
        directory = p.parent if p.name == ARCHIVE_FILE else p
        head_file = directory / ARCHIVE_FILE
        if not head_file.is_file():
            hint = ""
            if directory.is_dir():
                calls = sorted(c.name for c in directory.iterdir() if (c / ARCHIVE_FILE).is_file())
                if calls:
                    hint = f"; it holds call folders: {', '.join(calls[:5])} (give one of them)"
            raise ArchiveError(directory, f"not a call archive: no {ARCHIVE_FILE} there{hint}")
        head = _read_json(head_file)
        schema = head.get("schema")
        if schema != SCHEMA:
            raise ArchiveError(
                head_file,
                f"schema {schema!r} is not one this bwsim reads (it reads schema {SCHEMA}); "
                "replay it with the bwsim version that recorded it",
                field_name="schema",
            )
        archive = cls(
            recorded_at=_get(head, "recorded_at", str, head_file),
            recorded_by=_get(head, "recorded_by", str, head_file),
            redacted=bool(head.get("redacted", False)),
            ended_ms=_opt_float(head.get("ended_ms"), "ended_ms", head_file),
            webhooks=_records(head, "webhooks", WebhookRecord, head_file),
            streams=_records(head, "streams", StreamRecord, head_file),
            voice_api=None
            if head.get("voice_api") is None
            else _records(head, "voice_api", ApiRecord, head_file),
            path=directory,
        )
        archive.frames = list(_read_frames(directory / FRAMES_FILE, len(archive.streams)))
        if not archive.webhooks:
            raise ArchiveError(
                head_file, "the archive holds no webhook: nothing to replay", field_name="webhooks"
            )
        return archive


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArchiveError(path, f"cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ArchiveError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ArchiveError(path, "must hold a JSON object")
    return data


def _get(data: Mapping[str, Any], key: str, kind: type, path: Path) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ArchiveError(
            path, f"must be a {kind.__name__}; got {type(value).__name__}", field_name=key
        )
    return value


def _opt_float(value: Any, key: str, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArchiveError(path, f"must be a number; got {value!r}", field_name=key)
    return float(value)


def _records(head: Mapping[str, Any], key: str, kind: type[Any], path: Path) -> list[Any]:
    items = head.get(key)
    if not isinstance(items, list):
        raise ArchiveError(path, "must be a list", field_name=key)
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise ArchiveError(path, "must be an object", field_name=where)
        try:
            out.append(kind(**item))
        except TypeError as exc:
            raise ArchiveError(
                path, f"is not a {kind.__name__} ({exc})", field_name=where
            ) from None
    return out


def _read_frames(path: Path, streams: int) -> Iterator[FrameRecord]:
    if not path.is_file():
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ArchiveError(path, f"cannot read it ({exc.strerror or exc})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            item = json.loads(line)
            frame = FrameRecord(**item)
        except (ValueError, TypeError) as exc:
            raise ArchiveError(path, f"not a frame record ({exc})", field_name=where) from None
        if frame.sender not in ("caller", "bot"):
            raise ArchiveError(
                path, f"sender {frame.sender!r} is not caller or bot", field_name=where
            )
        if not 0 <= frame.stream < max(streams, 1):
            raise ArchiveError(
                path, f"stream {frame.stream} is not one of the archive's streams", field_name=where
            )
        yield frame
