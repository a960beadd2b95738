"""The asyncio driver of one media stream: a ``websockets`` client on an absolute clock.

This is the thin I/O shell around :mod:`simulator.protocol.media`. It dials the bot, sends
``start``, then one ``media`` frame of 160 μ-law bytes every 20 ms, scheduled against
the monotonic clock from the moment ``start`` went out (frame *k* is due at
``t_start + 20 ms * k``), so lateness never accumulates into drift. The frames are sent
by the loop's shared :class:`~simulator.call.pacer.Pacer` (one timer for every stream, woken
at each absolute deadline), each written as one finished WebSocket frame straight to the
transport (:mod:`simulator.call.media_socket`); see :mod:`simulator.call.pacer` for why.
It reads the bot's frames as they arrive (split in ``data_received``), feeds them to the
protocol and the playout queue, and records everything. :meth:`StreamDriver.stop` sends
``stop`` and closes with 1000, as Bandwidth does when a stream ends (docs/bandwidth.md
§1.7).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from simulator.call.media_socket import MAX_FRAME_BYTES, MediaConnection
from simulator.call.pacer import Pacer
from simulator.call.recorder import CallRecorder
from simulator.call.tasks import reap
from simulator.protocol.audio_level import is_audible
from simulator.protocol.codec import FRAME_BYTES, FRAME_MS, Pcm, ulaw_encode
from simulator.protocol.media import (
    SAMPLES_PER_MS,
    CallerReader,
    CallerSource,
    Clear,
    FrameViolation,
    MediaStream,
    PlayAudio,
    Playout,
    StreamConfig,
    mixed_window,
)
from simulator.protocol.stream_rules import sends_inbound, sends_outbound

__all__ = ["MAX_QUEUED_PLAYOUT_MS", "StreamDriver", "StreamOutcome"]

_monotonic = time.monotonic

SPEECH_GAP_MS = 500.0
"""Silence that ends a spell of bot speech. A TTS service sends a reply sentence by
sentence, and the gaps between sentences are not the end of the bot's turn: a caller
waiting for the bot to finish waits until it has been quiet this long. The end is
recorded at the time the audio stopped; shorter gaps inside the spell (underruns a
caller hears as stutter) are listed on it as ``gaps_ms``."""
SPEECH_GAP_SAMPLES = round(SPEECH_GAP_MS * SAMPLES_PER_MS)
MAX_QUEUED_PLAYOUT_MS = 60_000.0
"""The most bot audio queued ahead of what the caller is hearing; beyond it, dropped.

Bandwidth queues ``playAudio`` (docs/bandwidth.md §1.6) and documents no limit. A bot
streaming text-to-speech stays near real time (a reply's few seconds ahead at most), so
a minute queued is only reached by a bot sending audio much faster than it can be heard.
Such a bot would otherwise grow the call's memory without bound; past this cap the
excess is dropped and recorded once as a ``playout-overflow`` violation, and the
stream's summary says how much was dropped (``overflow_dropped_ms``)."""
MAX_QUEUED_PLAYOUT_SAMPLES = round(MAX_QUEUED_PLAYOUT_MS * SAMPLES_PER_MS)


@dataclass
class StreamOutcome:
    """How one stream went, for the summary and for expectations.

    ``status`` is ``accepted`` (the socket opened), ``refused`` (the upgrade was answered
    with an HTTP error, e.g. 403 for a close-before-accept through uvicorn) or
    ``connection-error`` (nothing answered). ``closed_by`` is ``simulator`` (it sent
    ``stop`` and closed), ``bot`` (the bot sent a close frame) or ``dropped`` (the
    connection died without one: code 1006).
    """

    stream_id: str
    name: str
    destination: str
    url: str
    status: Literal["pending", "accepted", "refused", "connection-error"] = "pending"
    http_status: int | None = None
    error: str | None = None
    opened_at_ms: float | None = None
    closed_at_ms: float | None = None
    close_code: int | None = None
    close_reason: str = ""
    closed_by: Literal["simulator", "bot", "dropped"] | None = None
    stop_sent: bool = False
    frames_sent: int = 0
    frames_received: int = 0
    play_audio_frames: int = 0
    content_types: list[str] = field(default_factory=list)
    clears: int = 0
    dropped_ms: float = 0.0
    bot_audio_ms: float = 0.0
    queued_max_ms: float = 0.0
    """The most bot audio that was ever queued ahead of the caller's ear."""
    overflow_dropped_ms: float = 0.0
    """Bot audio dropped because the queue was full (:data:`MAX_QUEUED_PLAYOUT_MS`)."""
    lateness_ms: list[float] = field(default_factory=list, repr=False)

    def pacing(self) -> dict[str, float]:
        """Send-time deviation from the 20 ms grid: p50, p99, max (ms) and final drift."""
        if not self.lateness_ms:
            return {}
        ordered = sorted(self.lateness_ms)
        return {
            "frames": float(len(ordered)),
            "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max_ms": ordered[-1],
            "drift_ms": self.lateness_ms[-1],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-frame lateness list)."""
        out = {k: v for k, v in self.__dict__.items() if k != "lateness_ms"}
        out["pacing"] = self.pacing()
        return out


PHASE_GRID_S = 0.001
"""Each stream's 20 ms schedule starts on a multiple of this (the first frame waits < 1 ms).

Streams whose deadlines coincide go out in one wake-up of the pacer and reach the bot in
one wake-up of its loop: measured on this 2-core VM, a write that must wake the reading
process costs ~12-20 µs of CPU against ~5 µs for one in a burst. With a 1 ms grid the
frames of N streams fall in 20 slots, so the last of a slot leaves about N/20 writes
(N/20 x ~10 µs) after its deadline, which is what the benchmark shows as p99."""


def _on_phase_grid(t: float) -> float:
    return math.ceil(t / PHASE_GRID_S) * PHASE_GRID_S


class StreamDriver:
    """Run one media stream against the bot until it is stopped or closed."""

    def __init__(
        self,
        *,
        config: StreamConfig,
        destination: str,
        url: str,
        headers: Mapping[str, str],
        caller: CallerSource,
        recorder: CallRecorder,
        on_violation: Callable[[FrameViolation], None],
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 5.0,
    ) -> None:
        self.protocol = MediaStream(config)
        self.config = config
        self.url = url
        self.headers = dict(headers)
        self.caller = caller
        self.recorder = recorder
        self.on_violation = on_violation
        self.open_timeout_s = open_timeout_s
        self.close_timeout_s = close_timeout_s
        self.playout = Playout()
        recorder.playouts.append(self.playout)
        self.outcome = StreamOutcome(
            stream_id=config.stream_id, name=config.stream_name, destination=destination, url=url
        )
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self._stop_requested = False
        self._drop_requested = False
        self._speaking = False
        self._gaps: list[float] = []
        self._ws: ClientConnection | None = None
        self._conn: MediaConnection | None = None
        # The send schedule, set when ``start`` has gone out (see _send and _tick).
        self._started = 0.0
        self._first_sample = 0
        self._frame = 0
        self._reader: CallerReader | None = None
        self._lateness = self.outcome.lateness_ms
        self._inbound = sends_inbound(config.tracks)
        self._outbound = sends_outbound(config.tracks)
        self._ticks_done = asyncio.Event()
        self._write_failed = False
        self._tick_error: Exception | None = None
        self._receive_error: Exception | None = None

    def stop(self) -> None:
        """Ask the stream to end: ``stop`` then close 1000, at the next 20 ms tick."""
        self._stop_requested = True

    def drop(self) -> None:
        """Make the connection die at the next tick: no ``stop``, no close frame (1006).

        This is a network failure or a media server crash as the bot sees it: the TCP
        connection is aborted without the WebSocket closing handshake.
        """
        self._drop_requested = True
        self._stop_requested = True

    # -- the connection --------------------------------------------------------------

    async def run(self) -> StreamOutcome:
        """Connect, stream until stopped or closed, and return what happened."""
        rec = self.recorder
        rec.event("stream-connecting", url=self.url, stream=self.config.stream_name)
        try:
            self._ws = await connect(
                self.url,
                additional_headers=self.headers,
                open_timeout=self.open_timeout_s,
                close_timeout=self.close_timeout_s,
                proxy=None,  # loopback only: never through an HTTP(S)_PROXY from the environment
                create_connection=MediaConnection,
                compression=None,
                ping_interval=None,
                max_size=MAX_FRAME_BYTES,
                user_agent_header=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            self.outcome.status, self.outcome.http_status = "refused", status
            self.outcome.error = f"the bot answered the WebSocket upgrade with HTTP {status}"
            rec.event("stream-refused", http_status=status, stream=self.config.stream_name)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.outcome.status = "connection-error"
            self.outcome.error = f"could not open {self.url}: {type(exc).__name__}: {exc}"
            rec.event(
                "stream-rejected",
                cause="connection-error",
                error=self.outcome.error,
                stream=self.config.stream_name,
            )
        else:
            await self._run_open(self._ws)
        self.closed.set()
        return self.outcome

    async def _run_open(self, ws: ClientConnection) -> None:
        rec = self.recorder
        self.outcome.status = "accepted"
        self.outcome.opened_at_ms = rec.clock.ms()
        rec.event("stream-accepted", stream=self.config.stream_name)
        self.opened.set()
        if isinstance(ws, MediaConnection):
            self._conn = ws
            ws.attach(self._handle_direct)
        receiver = asyncio.create_task(
            self._receive(ws), name=f"bwsim-recv-{self.config.stream_id}"
        )
        try:
            await self._send(ws)
        finally:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(receiver), self.close_timeout_s + 1)
            await reap(receiver)
            await ws.close()
            self._record_close(ws)

    def _record_close(self, ws: ClientConnection) -> None:
        out = self.outcome
        out.closed_at_ms = self.recorder.clock.ms()
        out.frames_sent = self.protocol.frames_sent
        out.frames_received = self.protocol.frames_received
        out.clears = self.playout.clears
        out.dropped_ms = self.playout.dropped_samples / SAMPLES_PER_MS
        out.bot_audio_ms = self.playout.played_samples / SAMPLES_PER_MS
        proto = ws.protocol
        received, sent = proto.close_rcvd, proto.close_sent
        if received is None:
            out.closed_by, out.close_code = "dropped", 1006
        elif proto.close_rcvd_then_sent or sent is None:
            out.closed_by, out.close_code, out.close_reason = "bot", received.code, received.reason
        else:
            out.closed_by, out.close_code = "simulator", sent.code
        self.recorder.event(
            "ws-closed",
            code=out.close_code,
            by=out.closed_by,
            reason=out.close_reason,
            stream=self.config.stream_name,
        )

    # -- Bandwidth → bot ---------------------------------------------------------------

    async def _send(self, ws: ClientConnection) -> None:
        rec, proto = self.recorder, self.protocol
        try:
            await ws.send(proto.start_message())
        except ConnectionClosed:
            return
        rec.log("ws-send", event="start", stream=self.config.stream_name)
        self._started = _on_phase_grid(time.monotonic())
        self._first_sample = round(rec.clock.at(self._started) * SAMPLES_PER_MS)
        self._frame = 0
        # Every caller frame from now on, a copy of what the call's other streams get.
        self._reader = self.caller.reader()
        self._ticks_done = asyncio.Event()
        # Frame k is due at started + 20 ms * k: the shared pacer runs _tick at each slot.
        Pacer.for_loop().add(self._started, self._tick)
        try:
            await self._ticks_done.wait()
        finally:
            self._reader.close()
        if self._tick_error is not None:
            raise self._tick_error
        if self._write_failed:
            return
        if self._drop_requested:
            rec.event("note", detail="bwsim drops the connection (no stop, no close frame)")
            ws.transport.abort()
            return
        try:
            await ws.send(proto.stop_message())
            self.outcome.stop_sent = True
            rec.event("stop-sent", stream=self.config.stream_name)
            await ws.close(1000)
        except ConnectionClosed:
            return

    def _write(self, frame: bytes) -> bool:
        """Write one text frame (its UTF-8 bytes) now, without awaiting: False once closing.

        This is ``ws.send()`` minus its coroutine, its flow-control wait and the library's
        frame objects (:meth:`MediaConnection.write_text`): the frame goes straight into
        the transport's buffer. There is no flow-control wait: Bandwidth does not slow
        down for a bot that reads slowly either; the frames queue in the kernel and the
        transport.
        """
        conn = self._conn
        assert conn is not None
        return conn.write_text(frame)

    def _tick(self, due: float) -> float | None:
        """Send frame ``self._frame`` (due now); returns the next frame's deadline, or None."""
        if self._stop_requested:
            self._ticks_done.set()
            return None
        try:
            self._lateness.append((_monotonic() - due) * 1000)
            assert self._reader is not None
            pcm, ulaw, label, fresh, before = self._reader.next_frame()
            position = self._first_sample + self._frame * FRAME_BYTES
            # The stream that took the frame first records it; the others got a copy.
            if fresh and label is not None:  # no label: silence, nothing to keep
                if label != before:
                    self._utterance_edge(before, label, position)
                # The caller's frames are never written to once handed out: kept as they are.
                self.recorder.caller_frame(position, pcm, copy=False)
            elif fresh and before is not None:
                self._utterance_edge(before, label, position)
            ok = True
            if self._inbound:
                ok = self._write(self.protocol.media_bytes(ulaw, "inbound"))
            if ok and self._outbound:
                # The outbound track is what the caller heard: every stream's bot audio, in
                # the 20 ms just heard (the current slot may still get audio; §1.9).
                heard = mixed_window(self.recorder.playouts, position - FRAME_BYTES, FRAME_BYTES)
                ok = self._write(self.protocol.media_bytes(ulaw_encode(heard), "outbound"))
            if self._speaking:
                self._check_speech_end(position)
        except Exception as exc:  # noqa: BLE001
            # Raised again in this stream's own task (_send), so it is not lost in the pacer.
            self._tick_error = exc
            self._ticks_done.set()
            return None
        if not ok:
            # The socket is closing (the bot closed it, or it died): the receiver records it.
            self._write_failed = True
            self._ticks_done.set()
            return None
        self._frame += 1
        return self._started + self._frame * FRAME_MS / 1000

    def _utterance_edge(self, before: str | None, after: str | None, position: int) -> None:
        at = position / SAMPLES_PER_MS
        if before is not None:
            self.recorder.event("caller-audio-end", at_ms=at, label=before)
        if after is not None:
            self.recorder.event("caller-audio-start", at_ms=at, label=after)

    def _check_speech_end(self, position: int) -> None:
        # On the frame's own position (its slot on the call clock): an integer compare,
        # where reading the clock every tick was 7% of the work at 500 streams.
        if self._speaking and self.playout.end + SPEECH_GAP_SAMPLES <= position:
            ended_at = self.playout.end / SAMPLES_PER_MS
            self._speaking = False
            gaps, self._gaps = self._gaps, []
            self.recorder.event("bot-speech-end", at_ms=ended_at, gaps_ms=gaps)

    # -- bot → Bandwidth -----------------------------------------------------------------

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:  # only what the direct path passed on (see above)
                self._handle(message)
        except ConnectionClosed:
            pass
        finally:
            # The bot closed (or the connection died): stop sending at the next tick.
            self._stop_requested = True
            if isinstance(ws, MediaConnection):
                ws.detach()
        if self._receive_error is not None:
            raise self._receive_error

    def _handle_direct(self, message: str | bytes) -> None:
        if self._receive_error is not None:
            return
        try:
            self._handle(message)
        except Exception as exc:  # noqa: BLE001
            # Raised again by the receiving task, not into the library's data_received;
            # the stream ends at the next tick, as when the receiving task itself failed.
            self._receive_error = exc
            self._stop_requested = True

    def _within_queue_cap(self, event: PlayAudio, now: float) -> Pcm | None:
        """The part of ``event``'s audio that fits the queue cap (None: none of it fits).

        The first overflow is recorded as one ``playout-overflow`` violation; later ones
        only add to ``overflow_dropped_ms``, so a flood costs neither memory nor records.
        """
        queued = max(0, self.playout.end - round(now * SAMPLES_PER_MS))
        room = MAX_QUEUED_PLAYOUT_SAMPLES - queued
        if len(event.samples) <= room:
            return event.samples
        dropped_ms = (len(event.samples) - max(room, 0)) / SAMPLES_PER_MS
        first = self.outcome.overflow_dropped_ms == 0
        self.outcome.overflow_dropped_ms = round(self.outcome.overflow_dropped_ms + dropped_ms, 1)
        if first:
            self.on_violation(
                FrameViolation(
                    now,
                    "playout-overflow",
                    f"the bot queued more than {MAX_QUEUED_PLAYOUT_MS / 1000:g} s of audio "
                    f"ahead of the caller (sending faster than real time); {dropped_ms:,.0f} "
                    "ms of this playAudio and any later overflow are dropped (the stream's "
                    "overflow_dropped_ms counts it all)",
                    f"playAudio of {len(event.samples) / SAMPLES_PER_MS:,.0f} ms",
                )
            )
        return event.samples[:room] if room > 0 else None

    def _handle(self, message: str | bytes) -> None:
        rec = self.recorder
        now = rec.clock.ms()
        event = self.protocol.receive(message, now)
        if self.protocol.stopped:
            rec.log("ws-recv-after-stop", size=len(message))
        if isinstance(event, PlayAudio):
            samples = self._within_queue_cap(event, now)
            if samples is None:
                self.outcome.play_audio_frames += 1
                return
            was_busy = self.playout.busy(now)
            first = not self.playout.heard_anything
            before = self.playout.end / SAMPLES_PER_MS
            segment = self.playout.enqueue(samples, now)
            queued = (self.playout.end - round(now * SAMPLES_PER_MS)) / SAMPLES_PER_MS
            self.outcome.queued_max_ms = max(self.outcome.queued_max_ms, round(queued, 1))
            if self._speaking and not was_busy:
                self._gaps.append(round(segment.start / SAMPLES_PER_MS - before, 1))
            heard_at = segment.start / SAMPLES_PER_MS
            self.outcome.play_audio_frames += 1
            if event.content_type not in self.outcome.content_types:
                self.outcome.content_types.append(event.content_type)
            # Numbers and a content type the protocol accepted: nothing to redact.
            rec.log_plain(
                "ws-recv",
                event="playAudio",
                content_type=event.content_type,
                bytes=event.payload_bytes,
                audio_ms=len(event.samples) / SAMPLES_PER_MS,
                heard_at_ms=round(heard_at, 1),
            )
            if first:
                rec.event("bot-audio-first", at_ms=heard_at, content_type=event.content_type)
            # A spell of speech starts with audio the caller can hear: queued silence does
            # not start one (the same level as the judge's and the audit's).
            if not self._speaking and is_audible(event.samples):
                self._speaking = True
                rec.event("bot-speech-start", at_ms=heard_at)
        elif isinstance(event, Clear):
            # Speaking means inside a spell of bot speech, a stutter's gap included.
            speaking = self._speaking or self.playout.busy(now)
            dropped = self.playout.clear(now) / SAMPLES_PER_MS
            rec.log("ws-recv", event="clear", dropped_ms=dropped)
            rec.event("clear", dropped_ms=round(dropped, 1), bot_was_speaking=speaking)
            if self._speaking:
                self._speaking = False
                gaps, self._gaps = self._gaps, []
                rec.event("bot-speech-end", interrupted=True, gaps_ms=gaps)
        else:
            rec.log("ws-recv", event="violation", rule=event.rule, frame=event.frame)
            self.on_violation(event)
