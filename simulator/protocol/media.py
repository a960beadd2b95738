"""The media-stream protocol, Sans-I/O: Bandwidth's side of one ``<StartStream>`` socket.

No sockets and no clocks here. :class:`MediaStream` turns the
simulator's intentions into the JSON text frames Bandwidth sends (``start``, ``media``,
``stop``; docs/bandwidth.md §1.5) and turns each frame the bot sends into events
(:class:`PlayAudio`, :class:`Clear`) or a :class:`FrameViolation` that names the rule and
carries the offending frame (docs/bandwidth.md §1.6). :class:`Playout` is the phone's
ear: queued bot audio is heard in real time, one segment after another, and ``clear``
drops what has not been heard yet. :class:`CallerSource` is the caller's mouth: queued
audio, else silence, one 160-byte μ-law frame per tick, each frame read by every stream of
the call through its own :class:`CallerReader` (each stream gets a copy, docs/bandwidth.md
§1.9). Times are milliseconds on the call's clock, passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from simulator.protocol.codec import (
    FRAME_BYTES,
    PHONE_RATE,
    ULAW_SILENCE,
    AudioFormat,
    ContentTypeError,
    Pcm,
    parse_content_type,
    ulaw_encode,
)
from simulator.protocol.serializer_audio import serializer_play_audio
from simulator.protocol.wire import OBSERVED, WireProfile

__all__ = [
    "MAX_KEPT_FRAMES",
    "CallerFrame",
    "CallerReader",
    "CallerSource",
    "Clear",
    "FrameViolation",
    "MediaStream",
    "PlayAudio",
    "Playout",
    "Segment",
    "StreamConfig",
    "StreamEvent",
    "media_event",
    "mixed_window",
    "start_event",
    "stop_event",
    "track_list",
]

SAMPLES_PER_MS = PHONE_RATE // 1000
_FRAME_EVIDENCE_CHARS = 300
SILENT_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES
_SILENT_PAYLOAD_BYTES = base64.b64encode(SILENT_FRAME)
_SILENT_PAYLOAD = _SILENT_PAYLOAD_BYTES.decode("ascii")
_SILENT_PCM = np.zeros(FRAME_BYTES, dtype=np.int16)
_SILENT_PCM.setflags(write=False)  # handed out for every silent frame: never written to
_QUOTED_TRACKS = {t: json.dumps(t) for t in ("inbound", "outbound")}


def track_list(
    tracks: tuple[str, ...] = ("inbound",), wire: WireProfile = OBSERVED
) -> list[dict[str, Any]]:
    """The ``tracks`` of ``start``/``stop`` metadata: each track is 8 kHz μ-law.

    The encoding is written as ``wire`` writes it (``PCMU`` or ``audio/PCMU``, §1.5).
    """
    return [
        {"name": t, "mediaFormat": {"encoding": wire.encoding, "sampleRate": PHONE_RATE}}
        for t in tracks
    ]


@dataclass(frozen=True)
class StreamConfig:
    """What Bandwidth knows about one stream when it opens it (docs/bandwidth.md §1.2, §1.5).

    ``metadata_overrides`` replaces keys of the ``start`` metadata: it is how a scenario
    forges ``callId``/``accountId`` to test that the bot ignores them. ``sequence_start``
    is configurable because Bandwidth's first ``sequenceNumber`` is undocumented. ``wire``
    is the form of every frame (:mod:`simulator.protocol.wire`, §1.5).
    """

    account_id: str
    call_id: str
    stream_id: str
    stream_name: str
    tracks: tuple[str, ...] = ("inbound",)
    bidirectional: bool = True
    stream_params: Mapping[str, str] | None = None
    metadata_overrides: Mapping[str, Any] | None = None
    sequence_start: int = 1
    wire: WireProfile = OBSERVED

    def metadata(self) -> dict[str, Any]:
        """The ``metadata`` object of ``start`` and ``stop`` (before any override)."""
        return {
            "accountId": self.wire.account(self.account_id),
            "callId": self.call_id,
            "streamId": self.stream_id,
            "streamName": self.stream_name,
            "tracks": track_list(self.tracks, self.wire),
        }


def start_event(config: StreamConfig) -> dict[str, Any]:
    """The ``start`` frame as an object: metadata (with overrides), ``streamParams`` if any.

    In the form of ``config.wire``. Returned as a dict so that the audit's fuzzer can
    mutate a genuine frame.
    """
    metadata = config.metadata()
    if config.metadata_overrides:
        metadata.update(config.metadata_overrides)
    body: dict[str, Any] = {"metadata": metadata}
    if config.stream_params:
        body["streamParams"] = dict(config.stream_params)
    return config.wire.frame("start", body)


def media_event(
    ulaw: bytes, sequence: int, track: str = "inbound", wire: WireProfile = OBSERVED
) -> dict[str, Any]:
    """One ``media`` frame as an object: base64 μ-law, string ``sequenceNumber``."""
    payload = _SILENT_PAYLOAD if ulaw == SILENT_FRAME else base64.b64encode(ulaw).decode("ascii")
    return wire.frame(
        "media", {"track": track, "sequenceNumber": str(sequence), "payload": payload}
    )


def stop_event(metadata: Mapping[str, Any], wire: WireProfile = OBSERVED) -> dict[str, Any]:
    """The ``stop`` frame as an object (Bandwidth repeats the ``start`` metadata)."""
    return wire.frame("stop", {"metadata": dict(metadata)})


@dataclass(frozen=True)
class PlayAudio:
    """The bot sent audio to be played to the caller; ``samples`` are 8 kHz int16."""

    at_ms: float
    fmt: AudioFormat
    content_type: str
    samples: Pcm = field(repr=False)
    payload_bytes: int


@dataclass(frozen=True)
class Clear:
    """The bot asked to drop the audio queued but not yet played (barge-in)."""

    at_ms: float


@dataclass(frozen=True)
class FrameViolation:
    """A frame from the bot that breaks the media-stream contract.

    ``rule`` is one of ``binary-frame``, ``bad-json``, ``missing-event-type``,
    ``unknown-event``, ``play-audio-unidirectional``, ``bad-play-audio``,
    ``bad-content-type``, ``bad-base64``, ``odd-pcm-length``. ``frame`` holds the start
    of the offending frame.
    """

    at_ms: float
    rule: str
    detail: str
    frame: str


StreamEvent = PlayAudio | Clear | FrameViolation


def _evidence(data: str | bytes) -> str:
    if isinstance(data, bytes):
        return f"<binary {len(data)} bytes: {data[:32].hex()}…>"
    return data if len(data) <= _FRAME_EVIDENCE_CHARS else data[:_FRAME_EVIDENCE_CHARS] + "…"


class MediaStream:
    """Frames Bandwidth sends on one stream, and what the bot's frames mean."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self._sequence: dict[str, int] = {}
        self._media_parts: dict[str, tuple[bytes, bytes, bytes]] = {}
        self.frames_sent = 0
        self.frames_received = 0
        self.stopped = False

    # -- Bandwidth → bot -----------------------------------------------------------

    def start_message(self) -> str:
        """The ``start`` frame: metadata, and ``streamParams`` when the BXML gave any."""
        return json.dumps(start_event(self.config))

    def media_message(self, ulaw: bytes, track: str = "inbound") -> str:
        """One ``media`` frame: base64 μ-law at top level, string ``sequenceNumber``.

        Formatted by hand, byte for byte what ``json.dumps`` gives for :func:`media_event`
        (the track is one of Bandwidth's names, the payload base64: nothing to escape),
        at a sixth of the cost: this runs 50 times a second for every stream.
        """
        number = self._sequence.get(track, self.config.sequence_start)
        self._sequence[track] = number + 1
        self.frames_sent += 1
        payload = (
            _SILENT_PAYLOAD if ulaw == SILENT_FRAME else base64.b64encode(ulaw).decode("ascii")
        )
        quoted = _QUOTED_TRACKS.get(track) or json.dumps(track)
        return self.config.wire.media_text(quoted, number, payload)

    def media_bytes(self, ulaw: bytes, track: str = "inbound") -> bytes:
        """:meth:`media_message`'s text as UTF-8 (the same frame, the same numbering).

        Built from the track's frame parts (:meth:`WireProfile.media_parts`) with the
        sequence number and the payload slotted in: the stream driver sends these bytes
        50 times a second for every stream.
        """
        parts = self._media_parts.get(track)
        if parts is None:
            quoted = _QUOTED_TRACKS.get(track) or json.dumps(track)
            parts = self._media_parts[track] = self.config.wire.media_parts(quoted)
        number = self._sequence.get(track, self.config.sequence_start)
        self._sequence[track] = number + 1
        self.frames_sent += 1
        payload = _SILENT_PAYLOAD_BYTES if ulaw == SILENT_FRAME else base64.b64encode(ulaw)
        return b"%b%d%b%b%b" % (parts[0], number, parts[1], payload, parts[2])

    def stop_message(self) -> str:
        """The ``stop`` frame (same metadata as ``start``, no ``streamParams``)."""
        self.stopped = True
        return json.dumps(stop_event(self.config.metadata(), self.config.wire))

    # -- bot → Bandwidth -----------------------------------------------------------

    def receive(self, data: str | bytes, at_ms: float) -> StreamEvent:
        """Interpret one frame from the bot."""
        self.frames_received += 1
        if self.config.bidirectional and isinstance(data, str):
            played = serializer_play_audio(data)
            if played is not None:
                fmt, content_type, samples, size = played
                return PlayAudio(at_ms, fmt, content_type, samples, size)
        return self._receive(data, at_ms)

    def _receive(self, data: str | bytes, at_ms: float) -> StreamEvent:
        """Every check of a frame, in order (:meth:`receive` without its short path)."""

        def bad(rule: str, detail: str) -> FrameViolation:
            return FrameViolation(at_ms, rule, detail, _evidence(data))

        if isinstance(data, bytes):
            return bad(
                "binary-frame",
                "the bot sent a binary frame; Bandwidth's media stream carries JSON text "
                "frames only (send_text, not send_bytes)",
            )
        try:
            message = json.loads(data)
        except ValueError:
            return bad("bad-json", "the bot sent a text frame that is not JSON")
        if not isinstance(message, dict) or not isinstance(message.get("eventType"), str):
            return bad("missing-event-type", "the bot sent a JSON frame without a string eventType")
        event = message["eventType"]
        if event == "clear":
            return Clear(at_ms)
        if event != "playAudio":
            return bad(
                "unknown-event",
                f"eventType {event!r} is not one the bot may send; Bandwidth accepts "
                "'playAudio' and 'clear' only",
            )
        if not self.config.bidirectional:
            return bad(
                "play-audio-unidirectional",
                "playAudio on a unidirectional stream: answer with "
                '<StartStream mode="bidirectional"> to send audio back',
            )
        media = message.get("media")
        if not isinstance(media, dict):
            return bad("bad-play-audio", "playAudio needs a 'media' object")
        try:
            fmt = parse_content_type(media.get("contentType"))
        except ContentTypeError as exc:
            return bad("bad-content-type", str(exc))
        payload = media.get("payload")
        if not isinstance(payload, str):
            return bad("bad-base64", "playAudio media.payload must be a base64 string")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return bad("bad-base64", "playAudio media.payload is not valid base64")
        try:
            samples = fmt.decode(raw)
        except ValueError as exc:
            return bad("odd-pcm-length", f"playAudio PCM payload: {exc}")
        return PlayAudio(at_ms, fmt, str(media["contentType"]), samples, len(raw))


class Segment(NamedTuple):
    """Bot audio as the caller hears it: from sample ``start`` (on the call clock), on."""

    start: int
    samples: Pcm

    @property
    def end(self) -> int:
        """The sample just after the last one heard."""
        return self.start + len(self.samples)


class Playout:
    """The phone's outbound queue: bot audio heard in real time, in order; ``clear`` flushes.

    Positions are samples at 8 kHz on the call's clock, so nothing drifts. Audio that
    arrives while the queue is idle is heard at once; audio that arrives while earlier
    audio is still playing is heard right after it (Bandwidth queues ``playAudio``:
    docs/bandwidth.md §1.6).

    The queue keeps plain ``(start, samples)`` tuples, not :class:`Segment` objects: the
    cyclic collector untracks a plain tuple of an int and an array, and a long call holds
    tens of thousands of them (one per ``playAudio``), which every full collection would
    otherwise walk while every stream's clock waits (measured: 30-70 ms pauses).
    """

    def __init__(self) -> None:
        self._segments: list[tuple[int, Pcm]] = []
        self.end = 0
        self.received_samples = 0
        self.dropped_samples = 0
        self.clears = 0

    @property
    def segments(self) -> list[Segment]:
        """What the caller heard or will hear, in order."""
        return [Segment(start, samples) for start, samples in self._segments]

    @property
    def heard_anything(self) -> bool:
        """Whether any bot audio was queued (and not all of it cleared before it began)."""
        return bool(self._segments)

    def enqueue(self, samples: Pcm, at_ms: float) -> Segment:
        """Queue audio that arrived at ``at_ms``; returns when it will be heard."""
        now = round(at_ms * SAMPLES_PER_MS)
        start = max(now, self.end)
        self._segments.append((start, samples))
        self.end = start + len(samples)
        self.received_samples += len(samples)
        return Segment(start, samples)

    def clear(self, at_ms: float) -> int:
        """Drop everything not heard by ``at_ms``; returns how many samples were dropped."""
        now = round(at_ms * SAMPLES_PER_MS)
        dropped = 0
        kept: list[tuple[int, Pcm]] = []
        for start, samples in self._segments:
            end = start + len(samples)
            if end <= now:
                kept.append((start, samples))
            elif start >= now:
                dropped += len(samples)
            else:
                dropped += end - now
                kept.append((start, samples[: now - start]))
        self._segments = kept
        self.end = min(self.end, now) if dropped else self.end
        self.dropped_samples += dropped
        self.clears += 1
        return dropped

    def busy(self, at_ms: float) -> bool:
        """Whether bot audio is being heard at ``at_ms``."""
        return self.end > round(at_ms * SAMPLES_PER_MS)

    @property
    def first_heard_ms(self) -> float | None:
        """When the caller first heard the bot, or None."""
        return self._segments[0][0] / SAMPLES_PER_MS if self._segments else None

    @property
    def played_samples(self) -> int:
        """Samples the caller heard or will hear (received minus dropped)."""
        return self.received_samples - self.dropped_samples

    def window(self, start: int, count: int) -> Pcm:
        """The bot audio heard in samples ``[start, start+count)`` (zeros where silent)."""
        out = np.zeros(count, dtype=np.int16)
        # Segments are in order and never overlap: walk back from the newest (the
        # outbound track asks for the 20 ms just heard), stop at the first one that ended.
        for seg_start, samples in reversed(self._segments):
            seg_end = seg_start + len(samples)
            if seg_end <= start:
                break
            lo, hi = max(seg_start, start), min(seg_end, start + count)
            if lo < hi:
                out[lo - start : hi - start] = samples[lo - seg_start : hi - seg_start]
        return out

    def render(self) -> Pcm:
        """The whole bot track from sample 0 of the call clock."""
        return self.window(0, self.end)


def mixed_window(playouts: list[Playout], start: int, count: int) -> Pcm:
    """What the caller heard in samples ``[start, start+count)``: every stream's bot audio.

    This is the call's ``outbound`` track (docs/bandwidth.md §1.9): the audio of all the
    call's bidirectional streams, summed and clipped to 16 bits.
    """
    if len(playouts) == 1:
        return playouts[0].window(start, count)
    total = np.zeros(count, dtype=np.int32)
    for playout in playouts:
        if playout.end > start:  # a playout that ended before the window adds nothing
            total += playout.window(start, count)
    return np.clip(total, -32768, 32767).astype(np.int16)


class CallerFrame(NamedTuple):
    """One 20 ms of the caller as one stream reads it.

    ``fresh`` is true for the one reader that took the frame from the queue (it records
    the frame and the utterance edges; the other readers get copies); ``before`` is the
    label of the frame taken just before it.
    """

    pcm: Pcm
    ulaw: bytes
    label: str | None
    fresh: bool
    before: str | None


_frame = tuple.__new__

MAX_KEPT_FRAMES = 250
"""Frames kept for readers that lag behind the one that reads first (5 s).

Every stream of a call is paced by one timer, so a reader lags by less than a frame; a
reader that falls further behind skips to the oldest frame kept."""


class CallerReader:
    """One stream's place in the caller's frames: every frame from when it began, once."""

    def __init__(self, source: CallerSource, cursor: int) -> None:
        self._source = source
        self.cursor = cursor
        """The index of the next frame this reader gets."""

    def next_frame(self) -> CallerFrame:
        """The next 20 ms for this stream (a copy when another stream read it first)."""
        return self._source._read(self)

    def close(self) -> None:
        """Stop reading (the stream ended): the frames it has not read need not be kept."""
        self._source._drop(self)


class CallerSource:
    """What the caller says, one 20 ms frame at a time; silence when there is nothing queued.

    Bandwidth keeps streaming between utterances (silence frames), so a tick always yields
    a frame. Each queued utterance carries a label for the timeline. Each stream reads
    through its own :meth:`reader`, and every reader gets every frame from the moment it
    began: the first to ask for a frame takes it from the queue, the others get a copy.
    """

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Pcm, bytes]] = deque()
        self._offset = 0
        self.current: str | None = None
        self.on_drained: Callable[[], None] | None = None
        """Called once the last queued audio has gone into a frame."""
        self._head = 0
        self._kept: deque[CallerFrame] = deque()
        self._readers: list[CallerReader] = []

    def reader(self) -> CallerReader:
        """A new reader, which gets every frame from the next one on."""
        reader = CallerReader(self, self._head)
        self._readers.append(reader)
        return reader

    def _read(self, reader: CallerReader) -> CallerFrame:
        kept = self._kept
        oldest = self._head - len(kept)
        if reader.cursor < self._head:
            index = max(reader.cursor, oldest) - oldest
            reader.cursor = oldest + index + 1
            frame = kept[index]
            self._trim()
            return frame
        before = self.current
        pcm, ulaw, label = self.next_frame()
        self._head += 1
        reader.cursor = self._head
        if len(self._readers) > 1:
            kept.append(_frame(CallerFrame, (pcm, ulaw, label, False, before)))
            self._trim()
        # tuple.__new__ skips the NamedTuple constructor's argument handling: this runs
        # 50 times a second for every stream.
        return _frame(CallerFrame, (pcm, ulaw, label, True, before))

    def _drop(self, reader: CallerReader) -> None:
        if reader in self._readers:
            self._readers.remove(reader)
            self._trim()

    def _trim(self) -> None:
        """Forget the frames every reader has had (and any beyond the cap)."""
        kept = self._kept
        needed = min((r.cursor for r in self._readers), default=self._head)
        oldest = self._head - len(kept)
        while kept and (oldest < needed or len(kept) > MAX_KEPT_FRAMES):
            kept.popleft()
            oldest += 1

    def say(self, samples: Pcm, label: str = "audio") -> None:
        """Queue audio (8 kHz int16) to be spoken after what is already queued."""
        if len(samples):
            # Copied (the frames handed out are views of it) and encoded once, here: a
            # tick then slices bytes instead of encoding 160 samples 50 times a second.
            pcm = np.array(samples, dtype=np.int16)
            self._queue.append((label, pcm, ulaw_encode(pcm)))

    def cancel(self) -> None:
        """Drop everything queued (the caller stops talking)."""
        self._queue.clear()
        self._offset = 0

    @property
    def idle(self) -> bool:
        """Whether nothing is queued: the next frames are silence."""
        return not self._queue

    def next_frame(self) -> tuple[Pcm, bytes, str | None]:
        """Return the next 20 ms: samples, their μ-law bytes, and the utterance label.

        The samples may be a view of the queued audio, or a shared read-only frame of
        silence: copy them to keep them.
        """
        queue = self._queue
        if not queue:
            self.current = None
            return _SILENT_PCM, SILENT_FRAME, None
        label, samples, ulaw = queue[0]
        lo = self._offset
        hi = lo + FRAME_BYTES
        if hi < len(samples):  # the frame lies inside one utterance, with more after it
            self._offset = hi
            self.current = label
            return samples[lo:hi], ulaw[lo:hi], label
        out = np.zeros(FRAME_BYTES, dtype=np.int16)
        filled = 0
        current: str | None = None
        while filled < FRAME_BYTES and queue:
            current, samples, _ = queue[0]
            take = min(FRAME_BYTES - filled, len(samples) - self._offset)
            out[filled : filled + take] = samples[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset >= len(samples):
                queue.popleft()
                self._offset = 0
                if not queue and self.on_drained is not None:
                    self.on_drained()
        self.current = current
        if current is None:
            return out, SILENT_FRAME, None
        return out, ulaw_encode(out), current
