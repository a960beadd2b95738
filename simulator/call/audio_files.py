"""Caller audio from files, and the stereo call recording.

Any file libsndfile reads (WAV, FLAC, OGG, MP3; any rate, any channel count) becomes the
caller's leg as Bandwidth would carry it: mixed to mono, band-limited resampled to
8 kHz, 16-bit. A file that cannot be used is an :class:`~simulator.errors.AudioFileError`
naming the path and what to do, raised before any call is placed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from simulator.errors import AudioFileError
from simulator.protocol.codec import PHONE_RATE, Pcm, to_phone_pcm

__all__ = ["load_caller_audio", "write_stereo_wav"]

MAX_SECONDS = 600.0
"""Longest caller file accepted; longer is almost certainly the wrong file."""


def load_caller_audio(path: str | Path) -> Pcm:
    """Read an audio file and return it as 8 kHz mono int16 samples."""
    p = Path(path)
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
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(p, f"could not decode the audio ({exc})") from None
    if not np.isfinite(data).all():
        raise AudioFileError(p, "the audio holds NaN or infinite samples")
    return to_phone_pcm(data, int(rate))


def write_stereo_wav(path: Path, left: Pcm, right: Pcm, rate: int = PHONE_RATE) -> None:
    """Write two int16 tracks (padded to the same length) as a 16-bit stereo WAV."""
    n = max(len(left), len(right))
    frames = np.zeros((n, 2), dtype=np.int16)
    frames[: len(left), 0] = left
    frames[: len(right), 1] = right
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), frames, rate, subtype="PCM_16")
