"""What one call left behind: the trace, the timeline and the stereo recording.

Every time is milliseconds on the call's clock (monotonic, zero when the ``initiate``
webhook was sent), so the trace, the timeline and both channels of the WAV line up.

- **trace** (``trace.jsonl``): every webhook, frame and API request, one JSON object a
  line, with ``t_ms``. Media payloads are not copied (the WAV holds the audio).
- **timeline**: the events a person reads (webhook answered, stream accepted, first bot
  audio, clear, hang-up request, close with its code …). :class:`TimelineEvent` ``kind``
  values are listed in :data:`EVENT_KINDS`.
- **recording** (``call.wav``): caller on the left, the bot on the right at the time the
  caller would hear it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.call.audio_files import write_stereo_wav
from simulator.protocol.bounds import NotKept
from simulator.protocol.codec import FRAME_BYTES, Pcm
from simulator.protocol.media import SAMPLES_PER_MS, Playout
from simulator.protocol.redact import redact

__all__ = [
    "EVENT_KINDS",
    "MAX_EVENTS_PER_KIND",
    "MAX_TRACE_RECORDS",
    "CallClock",
    "CallRecorder",
    "TimelineEvent",
]

MAX_TRACE_RECORDS = 100_000
"""How many records one call's trace keeps; later ones are counted, not kept.

The busiest real trace is a bot sending a 20 ms ``playAudio`` frame at a time: 50
records a second, so 100,000 records are over half an hour of that, longer than any
test call. A record is a few hundred bytes, so the cap keeps one call's trace in the
tens of megabytes however fast a bot floods. When it is reached, one ``trace-truncated``
record marks the place, and says at the end how many records were not kept.
"""

MAX_EVENTS_PER_KIND = 1_000
"""How many timeline events of one kind one call keeps; later ones are counted, not kept.

A bot can make the timeline grow as fast as it sends: a ``clear`` frame, a blip of
``playAudio`` or a Voice API request is an event each. A real call has a few dozen of any
kind; 1,000 is a ten-minute call of a bot that speaks in two-second bursts, or polls the
call's state every half second. Past the cap, one ``note`` event says which kind stopped
being kept; the call's summary and the report give the count per kind
(``timeline_events_not_kept``), and judging treats the timeline of that kind as incomplete
from the first event not kept (:mod:`simulator.judge.expect`). Listeners (waits, the live
view) still hear every event.
"""

EVENT_KINDS = frozenset(
    {
        "webhook-sent",
        "webhook-answered",
        "webhook-failed",
        "callback",
        "call-answered",
        "stream-connecting",
        "stream-accepted",
        "stream-refused",
        "stream-rejected",
        "caller-audio-start",
        "caller-audio-end",
        "bot-audio-first",
        "bot-speech-start",
        "bot-speech-end",
        "clear",
        "api-request",
        "hangup-request",
        "transfer",
        "transfer-ringing",
        "transfer-answered",
        "transfer-bridged",
        "transfer-leg-ended",
        "transfer-ended",
        "redirect",
        "bxml-replaced",
        "stop-sent",
        "ws-closed",
        "call-ended",
        "violation",
        "verb",
        "note",
        "gather-start",
        "gather",
        "dtmf",
        "dtmf-webhook",
        "verb-audio-start",
        "verb-audio-end",
    }
)


_SILENT_FRAME_BYTES = bytes(2 * FRAME_BYTES)
"""A 20 ms frame of int16 zeros, as bytes."""


class CallClock:
    """Milliseconds since the call began, on the monotonic clock."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self.t0 = now()

    def restart(self) -> None:
        """Make now the call's time zero (before anything is recorded)."""
        self.t0 = self._now()

    def ms(self) -> float:
        """Milliseconds elapsed since the call began."""
        return (self._now() - self.t0) * 1000.0

    def at(self, monotonic_s: float) -> float:
        """Convert a ``time.monotonic()`` reading to milliseconds on this clock."""
        return (monotonic_s - self.t0) * 1000.0


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened on a call, for people and for expectations."""

    kind: str
    at_ms: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``type``, ``at_ms`` and the details."""
        return {"type": self.kind, "at_ms": round(self.at_ms, 1), **self.detail}

    def describe(self) -> str:
        """One line for the console timeline."""
        extras = ", ".join(f"{k}={v}" for k, v in self.detail.items() if v not in (None, "", []))
        return f"{self.at_ms:9.0f} ms  {self.kind}" + (f"  ({extras})" if extras else "")


Listener = Callable[[TimelineEvent], None]


class CallRecorder:
    """Collects the trace, the timeline and both audio channels of one call."""

    def __init__(self, clock: CallClock) -> None:
        self.clock = clock
        self.trace: list[dict[str, Any]] = []
        self.trace_not_kept = 0
        """Trace records past :data:`MAX_TRACE_RECORDS`, counted only."""
        self._truncation: dict[str, Any] | None = None
        self.timeline: list[TimelineEvent] = []
        self.events_not_kept: NotKept[str] = NotKept()
        """Per kind: events past :data:`MAX_EVENTS_PER_KIND`, on the call clock."""
        self._kept_per_kind: dict[str, int] = {}
        self._caller: list[tuple[int, Pcm]] = []
        self.playouts: list[Playout] = []
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` on every timeline event, as it happens."""
        self._listeners.append(listener)

    def log(self, kind: str, **fields: Any) -> None:
        """Append one trace record, stamped now, its secrets masked (``redact``)."""
        self._trace({"t_ms": round(self.clock.ms(), 3), "kind": kind, **redact(fields)})

    def log_plain(self, kind: str, **fields: Any) -> None:
        """Append one trace record, stamped now, for fields that cannot hold a secret.

        Numbers and values already checked against a fixed grammar (a ``playAudio``'s
        accepted content type), so the record needs no redaction: the bot's audio
        frames are logged 25-50 times a second per stream.
        """
        self._trace({"t_ms": round(self.clock.ms(), 3), "kind": kind, **fields})

    def _trace(self, record: dict[str, Any]) -> None:
        """Keep ``record``, or past :data:`MAX_TRACE_RECORDS` only count it."""
        if len(self.trace) < MAX_TRACE_RECORDS:
            self.trace.append(record)
            return
        self.trace_not_kept += 1
        if self._truncation is None:
            self._truncation = {
                "t_ms": record["t_ms"],
                "kind": "trace-truncated",
                "limit": MAX_TRACE_RECORDS,
                "detail": f"the trace keeps {MAX_TRACE_RECORDS:,} records; later ones "
                "were counted, not kept",
            }
            self.trace.append(self._truncation)
        self._truncation["records_not_kept"] = self.trace_not_kept

    def event(self, kind: str, at_ms: float | None = None, **detail: Any) -> TimelineEvent:
        """Record a timeline event (also traced) and tell the listeners; secrets masked."""
        assert kind in EVENT_KINDS, kind
        detail = redact(detail)
        ev = TimelineEvent(kind, self.clock.ms() if at_ms is None else at_ms, detail)
        self._keep(ev)
        self._trace({"t_ms": round(ev.at_ms, 3), "kind": "event", "event": kind, **detail})
        for listener in list(self._listeners):
            listener(ev)
        return ev

    def _keep(self, ev: TimelineEvent) -> None:
        """Append ``ev``, or past :data:`MAX_EVENTS_PER_KIND` of its kind only count it."""
        kept = self._kept_per_kind.get(ev.kind, 0)
        if kept < MAX_EVENTS_PER_KIND:
            self._kept_per_kind[ev.kind] = kept + 1
            self.timeline.append(ev)
        elif self.events_not_kept.add(ev.kind, ev.at_ms):
            note = (
                f"the timeline keeps the first {MAX_EVENTS_PER_KIND:,} {ev.kind} events; "
                "later ones are counted, not kept"
            )
            self.timeline.append(TimelineEvent("note", ev.at_ms, {"detail": note}))

    def first(self, kind: str) -> TimelineEvent | None:
        """The first event of ``kind``, or None."""
        return next((e for e in self.timeline if e.kind == kind), None)

    def caller_frame(self, start_sample: int, samples: Pcm, *, copy: bool = True) -> None:
        """Keep what the caller sent, placed at its sample position on the call clock.

        ``copy=False`` keeps ``samples`` itself, for a caller that never writes to them
        again (the stream driver: the caller's frames are views of audio queued once).
        """
        if len(samples) == FRAME_BYTES and samples.dtype == np.int16:
            # A 20 ms frame: comparing its bytes is a third of count_nonzero's cost.
            audible = samples.tobytes() != _SILENT_FRAME_BYTES
        else:
            audible = bool(np.count_nonzero(samples))
        if audible:
            self._caller.append((start_sample, samples.copy() if copy else samples))

    def caller_track(self) -> Pcm:
        """The caller's channel from sample 0."""
        if not self._caller:
            return np.zeros(0, dtype=np.int16)
        end = max(start + len(s) for start, s in self._caller)
        out = np.zeros(end, dtype=np.int16)
        for start, s in self._caller:
            out[start : start + len(s)] = s
        return out

    def bot_track(self) -> Pcm:
        """The bot's channel from sample 0 (all streams mixed)."""
        tracks = [p.render() for p in self.playouts]
        if not tracks:
            return np.zeros(0, dtype=np.int16)
        end = max(len(t) for t in tracks)
        mixed = np.zeros(end, dtype=np.int32)
        for t in tracks:
            mixed[: len(t)] += t
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    def write(self, directory: Path) -> dict[str, Path]:
        """Write ``call.wav``, ``trace.jsonl`` and ``timeline.json``; returns their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        wav = directory / "call.wav"
        caller, bot = self.caller_track(), self.bot_track()
        # Both channels span the whole call, so silence at the end is kept too.
        end = max(len(caller), len(bot), round(self.clock.ms() * SAMPLES_PER_MS))
        write_stereo_wav(wav, _pad(caller, end), _pad(bot, end))
        trace = directory / "trace.jsonl"
        with trace.open("w", encoding="utf-8") as fh:
            for record in self.trace:
                fh.write(json.dumps(record, default=str) + "\n")
        timeline = directory / "timeline.json"
        timeline.write_text(
            json.dumps(
                [e.to_dict() for e in sorted(self.timeline, key=lambda e: e.at_ms)],
                indent=1,
                default=str,
            )
            + "\n",
            encoding="utf-8",
        )
        return {"wav": wav, "trace": trace, "timeline": timeline}


def _pad(track: Pcm, length: int) -> Pcm:
    if len(track) >= length:
        return track
    return np.concatenate([track, np.zeros(length - len(track), dtype=np.int16)])
