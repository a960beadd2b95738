"""Caller audio from files, and the stereo call recording.

Any file libsndfile reads (WAV, FLAC, OGG, MP3; any rate, any channel count) becomes the
caller's leg as Bandwidth would carry it: one channel, band-limited resampled to 8 kHz,
16-bit. A file with more than one channel says which one the caller speaks (``left``,
``right`` or a 0-based number): a recording of a call holds both parties, one per
channel (bwsim's own ``call.wav`` has the caller left and the bot right), so mixing them
would put the other party's voice in the caller's mouth. A file that cannot be used is an
:class:`~simulator.errors.AudioFileError` naming the path and what to do, raised before
any call is placed.

The channel vocabulary lives here, once: :data:`CHANNEL_NAMES` and :func:`parse_channel`
serve the scenario files' ``say: {file: …, channel: …}`` and the CLI's ``--channel``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeAlias

import numpy as np
import soundfile as sf

from simulator.errors import AudioFileError
from simulator.protocol.codec import PHONE_RATE, Pcm, to_phone_pcm

__all__ = [
    "CHANNEL_NAMES",
    "AudioSource",
    "Channel",
    "ChannelSpec",
    "channel_label",
    "load_caller_audio",
    "parse_channel",
    "write_stereo_wav",
]

MAX_SECONDS = 600.0
"""Longest caller file accepted; longer is almost certainly the wrong file."""

Channel: TypeAlias = int
"""A channel of an audio file by its 0-based index: left is 0, right is 1."""
ChannelSpec: TypeAlias = "str | int"
"""A channel as a user gives it: ``"left"``, ``"right"``, or a 0-based number."""
CHANNEL_NAMES: Mapping[str, Channel] = MappingProxyType({"left": 0, "right": 1})
"""The channels that have names; any channel also has its 0-based number."""
CHANNEL_FORMS = "left, right or a 0-based channel number (left is 0, right is 1)"
"""How a channel is written, for messages."""


def parse_channel(value: object) -> Channel:
    """A channel from ``left``, ``right`` or a 0-based number (also as text, ``"2"``).

    Raises ValueError, saying the accepted forms, for anything else (a negative number,
    ``true``, ``"centre"``).
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in CHANNEL_NAMES:
            return CHANNEL_NAMES[text]
        if text.isdigit():
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"a channel is {CHANNEL_FORMS}, got {value!r}")


def channel_label(channel: Channel) -> str:
    """``left (channel 0)``, ``right (channel 1)`` or ``channel 2``, for messages."""
    names = {index: name for name, index in CHANNEL_NAMES.items()}
    return f"{names[channel]} (channel {channel})" if channel in names else f"channel {channel}"


@dataclass(frozen=True)
class AudioSource:
    """What the caller speaks: a file and, for a file of several channels, which one."""

    path: Path
    channel: Channel | None = None


def _layout(count: int) -> str:
    """``is mono (1 channel)``, ``is stereo (2 channels)`` or ``has 4 channels``."""
    if count == 1:
        return "is mono (1 channel)"
    return "is stereo (2 channels)" if count == 2 else f"has {count} channels"


def _check_channel(p: Path, count: int, channel: Channel | None) -> Channel:
    """The channel the caller speaks, of a file of ``count`` channels."""
    if channel is None:
        if count == 1:
            return 0
        raise AudioFileError(
            p,
            f"the file {_layout(count)}: say which one the caller speaks: "
            f'"channel: left" (or right, or a number 0-{count - 1}) in the scenario\'s say '
            "step (say: {file: …, channel: left}), or --channel left on the command line; "
            "in a recording of a call each party has its own channel (bwsim's call.wav: "
            "caller left, bot right)",
        )
    if channel >= count:
        have = ", ".join(channel_label(c) for c in range(count))
        raise AudioFileError(
            p,
            f"the file {_layout(count)} and has no {channel_label(channel)}: "
            f"its channels are: {have}",
        )
    return channel


def load_caller_audio(path: str | Path, channel: ChannelSpec | None = None) -> Pcm:
    """Read an audio file and return one channel of it as 8 kHz mono int16 samples.

    ``channel`` is ``"left"``, ``"right"`` or a 0-based number (left is 0, right is 1);
    a file of more than one channel needs it, and a mono file takes none, ``left`` or 0.
    """
    p = Path(path)
    try:
        index = None if channel is None else parse_channel(channel)
    except ValueError as exc:
        raise AudioFileError(p, str(exc)) from None
    if not p.is_file():
        raise AudioFileError(p, "no such file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(
            p, f"not an audio file libsndfile can read ({exc}); use WAV, FLAC, OGG or MP3"
        ) from None
    if info.frames == 0 or info.samplerate <= 0:
        raise AudioFileError(p, "the file holds no audio")
    if info.frames / info.samplerate > MAX_SECONDS:
        raise AudioFileError(
            p, f"{info.frames / info.samplerate:.0f} s is longer than {MAX_SECONDS:.0f} s"
        )
    picked = _check_channel(p, info.channels, index)
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(p, f"could not decode the audio ({exc})") from None
    if not np.isfinite(data).all():
        raise AudioFileError(p, "the audio holds NaN or infinite samples")
    return to_phone_pcm(data[:, picked], int(rate))


def channel_count(path: Path) -> int | None:
    """How many channels an audio file has, or None when it cannot be read."""
    try:
        return int(sf.info(str(path)).channels)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None


def write_stereo_wav(path: Path, left: Pcm, right: Pcm, rate: int = PHONE_RATE) -> None:
    """Write two int16 tracks (padded to the same length) as a 16-bit stereo WAV."""
    n = max(len(left), len(right))
    frames = np.zeros((n, 2), dtype=np.int16)
    frames[: len(left), 0] = left
    frames[: len(right), 1] = right
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), frames, rate, subtype="PCM_16")
