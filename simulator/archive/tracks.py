"""A recorded call's audio and events, rebuilt from its frames: what the comparison measures.

The caller's leg is every ``media`` frame's μ-law payload, each placed at the time it
crossed the recorder (never overlapping the one before). The bot's leg is every
``playAudio``, queued as the phone queues it (:class:`~simulator.protocol.media.Playout`:
heard at once when idle, after the audio before it otherwise, dropped by ``clear``), so
it is the bot as the caller heard it, on the same clock as bwsim's own ``call.wav``. Pure
functions over an archive; no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import numpy as np

from simulator.archive.model import CallArchive
from simulator.protocol.codec import ContentTypeError, Pcm, parse_content_type, ulaw_decode
from simulator.protocol.media import SAMPLES_PER_MS, Playout

__all__ = ["RecordedAudio", "caller_audio", "recorded_audio"]


@dataclass
class RecordedAudio:
    """Both legs of a recorded call and the bot's ``clear`` times, on the archive's clock."""

    caller: Pcm
    bot: Pcm
    clears_ms: list[float] = field(default_factory=list)
    stream_opened_ms: float | None = None
    ended_ms: float = 0.0
    unreadable_bot_frames: int = 0
    """``playAudio`` frames whose audio could not be decoded (kept out of the bot's leg)."""


def caller_audio(archive: CallArchive, stream: int = 0) -> Pcm:
    """The caller's audio on one stream, frame after frame as sent (no gaps, no timing)."""
    chunks = [_media_payload(f.message()) for f in archive.frames_of(stream, "caller")]
    kept = [c for c in chunks if c is not None]
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int16)


def recorded_audio(archive: CallArchive) -> RecordedAudio:
    """Both legs placed in time (all streams), and when the bot sent ``clear``."""
    caller_parts: list[tuple[int, Pcm]] = []
    caller_end = 0
    playouts: dict[int, Playout] = {}
    clears: list[float] = []
    unreadable = 0
    for frame in archive.frames:
        message = frame.message()
        if frame.sender == "caller":
            samples = _media_payload(message)
            if samples is None:
                continue
            start = max(round(frame.at_ms * SAMPLES_PER_MS), caller_end)
            caller_parts.append((start, samples))
            caller_end = start + len(samples)
            continue
        kind = frame.event_type
        playout = playouts.setdefault(frame.stream, Playout())
        if kind == "clear":
            playout.clear(frame.at_ms)
            clears.append(frame.at_ms)
        elif kind == "playAudio":
            samples = _play_audio(message)
            if samples is None:
                unreadable += 1
            else:
                playout.enqueue(samples, frame.at_ms)
    caller = np.zeros(caller_end, dtype=np.int16)
    for start, samples in caller_parts:
        caller[start : start + len(samples)] = samples
    bot = _mix([p.render() for p in playouts.values()])
    ended = archive.ended_ms or 0.0
    ended = max(ended, len(caller) / SAMPLES_PER_MS, len(bot) / SAMPLES_PER_MS)
    return RecordedAudio(
        caller=caller,
        bot=bot,
        clears_ms=clears,
        stream_opened_ms=archive.streams[0].opened_ms if archive.streams else None,
        ended_ms=ended,
        unreadable_bot_frames=unreadable,
    )


def _media_payload(message: dict[str, object] | None) -> Pcm | None:
    """The μ-law samples of a ``media`` frame, or None for any other frame."""
    if message is None or message.get("eventType") != "media":
        return None
    payload = message.get("payload")
    if payload is None:
        media = message.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
    if not isinstance(payload, str):
        return None
    try:
        return ulaw_decode(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        return None


def _play_audio(message: dict[str, object] | None) -> Pcm | None:
    """The 8 kHz samples of a ``playAudio`` frame, or None when it cannot be decoded."""
    media = message.get("media") if message is not None else None
    if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
        return None
    try:
        fmt = parse_content_type(media.get("contentType"))
        return fmt.decode(base64.b64decode(media["payload"], validate=True))
    except (ContentTypeError, binascii.Error, ValueError):
        return None


def _mix(tracks: list[Pcm]) -> Pcm:
    if not tracks:
        return np.zeros(0, dtype=np.int16)
    if len(tracks) == 1:
        return tracks[0]
    mixed = np.zeros(max(len(t) for t in tracks), dtype=np.int32)
    for t in tracks:
        mixed[: len(t)] += t
    return np.clip(mixed, -32768, 32767).astype(np.int16)
