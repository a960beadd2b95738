"""What the caller hears while a verb plays, Sans-I/O: the runner's audio commands and tones.

``<SpeakSentence>``, ``<PlayAudio>`` and ``<Ring>`` hold the document while they play
(docs/bandwidth.md §3.5). The runner asks its shell to fetch a ``<PlayAudio>`` file
(:class:`FetchAudio`) and is told how long it lasts (:class:`AudioFetched`); when one of
these verbs begins to be heard it says so with :class:`PlayVerbAudio`, and the shell puts
the sound on the call's outbound track (the bot side of ``call.wav``, and every stream
whose tracks include ``outbound``).

bwsim synthesises no speech and reaches no host beyond loopback, so where it has no real
audio it plays a tone of the right length (docs/bandwidth.md §6):
:func:`placeholder_tone` for speech and for audio it could not fetch, :func:`ringback`
for ``<Ring>``. Samples are 8 kHz int16, as everywhere on the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from simulator.protocol.audio_level import level_amplitude
from simulator.protocol.codec import PHONE_RATE, Pcm
from simulator.protocol.verbs import PlayAudio, Ring, SpeakSentence

__all__ = [
    "PLAYABLE_CONTENT_TYPES",
    "RINGBACK_CADENCE_S",
    "RINGBACK_HZ",
    "TONE_DBFS",
    "TONE_HZ",
    "AudioFetched",
    "FetchAudio",
    "PlayVerbAudio",
    "TimedVerb",
    "placeholder_tone",
    "playable_content_type",
    "ringback",
]

TONE_HZ: Final = 440.0
"""The placeholder tone: a sine played for speech bwsim cannot synthesise (``<SpeakSentence>``)
and for a ``<PlayAudio>`` file it could not fetch."""
TONE_DBFS: Final = -20.0
"""The placeholder tone's RMS level: modest, well above the audible threshold (-40 dBFS)."""
RINGBACK_HZ: Final = (440.0, 480.0)
"""``<Ring>``'s ringing: the North American ringback tone, two sines summed."""
RINGBACK_CADENCE_S: Final = (2.0, 4.0)
"""Ringback cadence: two seconds of tone, four of silence, over and over."""
_FADE_S = 0.005
"""Each burst of tone fades in and out this long, so it starts and stops without a click."""

PLAYABLE_CONTENT_TYPES: Final = frozenset(
    {"audio/wav", "audio/x-wav", "audio/mpeg", "audio/mpeg3", "audio/mp3"}
)
"""The ``Content-Type`` values ``<PlayAudio>`` plays: WAV and MP3 (docs/bandwidth.md §3.5)."""

TimedVerb = SpeakSentence | PlayAudio | Ring
"""A verb the caller hears while it holds the document."""


@dataclass(frozen=True)
class FetchAudio:
    """Fetch the file of ``step`` and answer with :class:`AudioFetched` (its duration)."""

    step: PlayAudio


@dataclass(frozen=True)
class AudioFetched:
    """The file of ``step`` lasts ``seconds`` (a default when it could not be read)."""

    step: PlayAudio
    seconds: float


@dataclass(frozen=True)
class PlayVerbAudio:
    """``step`` is heard from now for ``seconds``: put its sound on the outbound track."""

    step: TimedVerb
    seconds: float


def playable_content_type(header: str | None) -> bool:
    """Whether a response's ``Content-Type`` is one ``<PlayAudio>`` plays (parameters aside)."""
    if not header:
        return False
    return header.split(";", 1)[0].strip().lower() in PLAYABLE_CONTENT_TYPES


def _samples(seconds: float) -> int:
    return max(0, round(seconds * PHONE_RATE))


def _faded(wave: np.ndarray) -> np.ndarray:
    n = min(len(wave) // 2, round(_FADE_S * PHONE_RATE))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, endpoint=False)
        wave[:n] *= ramp
        wave[len(wave) - n :] *= ramp[::-1]
    return wave


def _sines(hz: tuple[float, ...], count: int, rms_dbfs: float) -> np.ndarray:
    """Equal sines summed to an RMS of ``rms_dbfs``; float samples in int16 units."""
    t = np.arange(count) / PHONE_RATE
    # A sine of peak A has RMS A/sqrt(2); n uncorrelated sines of peak A, A*sqrt(n/2).
    peak = level_amplitude(rms_dbfs) * np.sqrt(2.0 / len(hz))
    return sum((peak * np.sin(2 * np.pi * f * t) for f in hz), np.zeros(count))


def placeholder_tone(seconds: float) -> Pcm:
    """:data:`TONE_HZ` at :data:`TONE_DBFS` for ``seconds``."""
    wave = _faded(_sines((TONE_HZ,), _samples(seconds), TONE_DBFS))
    return wave.astype(np.int16)


def ringback(seconds: float) -> Pcm:
    """``seconds`` of ringing: :data:`RINGBACK_HZ` in the :data:`RINGBACK_CADENCE_S` cadence."""
    on, off = (_samples(s) for s in RINGBACK_CADENCE_S)
    total = _samples(seconds)
    out = np.zeros(total, dtype=np.int16)
    burst = _faded(_sines(RINGBACK_HZ, on, TONE_DBFS)).astype(np.int16)
    for start in range(0, total, on + off):
        part = burst[: total - start]
        if len(part) < len(burst):
            part = _faded(part.astype(np.float64)).astype(np.int16)
        out[start : start + len(part)] = part
    return out
