"""When audio counts as audible: one level threshold for the whole simulator.

The judge's speech detection, the audit's "did the caller hear the bot" and the media
stream's "the bot started speaking" all ask the same question of 8 kHz int16 samples:
is their RMS level at or above a threshold in dBFS (0 dBFS is a full-scale square
wave, RMS 32768)? :data:`AUDIBLE_DBFS` is the default; every function takes the
threshold as an argument. Pure functions over numpy arrays; no I/O.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from simulator.protocol.codec import Pcm

__all__ = ["AUDIBLE_DBFS", "audible_windows", "is_audible", "level_amplitude", "rms"]

AUDIBLE_DBFS: Final = -40.0
"""Level (RMS, dBFS) at or above which audio is heard: RMS 327.7 of int16 full scale."""


def level_amplitude(threshold_dbfs: float = AUDIBLE_DBFS) -> float:
    """The int16 RMS (or sample magnitude) that a level in dBFS stands for."""
    return 32768.0 * 10 ** (threshold_dbfs / 20)


def rms(samples: Pcm) -> float:
    """Root mean square of the samples (0.0 for none)."""
    if samples.size == 0:
        return 0.0
    x = samples.astype(np.float64)
    return float(np.sqrt(np.mean(x * x)))


def is_audible(samples: Pcm, threshold_dbfs: float = AUDIBLE_DBFS) -> bool:
    """Whether the samples' RMS level reaches ``threshold_dbfs``; no samples are not."""
    return samples.size > 0 and rms(samples) >= level_amplitude(threshold_dbfs)


def audible_windows(
    track: Pcm, window: int, threshold_dbfs: float = AUDIBLE_DBFS
) -> npt.NDArray[np.bool_]:
    """For each whole window of ``window`` samples, whether it is audible.

    A trailing part shorter than a window is not judged.
    """
    n = len(track) // window
    x = track[: n * window].astype(np.float64).reshape(n, window)
    return np.asarray(np.sqrt(np.mean(x * x, axis=1)) >= level_amplitude(threshold_dbfs))
