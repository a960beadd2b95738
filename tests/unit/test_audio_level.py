"""The one audibility threshold shared by the judge, the audit and the media stream."""

from __future__ import annotations

import numpy as np

from simulator.protocol.audio_level import (
    AUDIBLE_DBFS,
    audible_windows,
    is_audible,
    level_amplitude,
    rms,
)


def _tone(amplitude: float, samples: int = 160) -> np.ndarray:
    t = np.arange(samples) / 8000
    return (np.sin(2 * np.pi * 400 * t) * amplitude).astype(np.int16)


def test_the_default_threshold_is_minus_40_dbfs() -> None:
    """-40 dBFS is an RMS of 1/100 of int16 full scale."""
    assert AUDIBLE_DBFS == -40.0
    assert level_amplitude() == 327.68


def test_silence_and_a_whisper_are_not_audible_a_voice_is() -> None:
    """Zeros and a quiet tone are below the level; a speaking-level tone is above it."""
    assert not is_audible(np.zeros(160, dtype=np.int16))
    assert not is_audible(np.zeros(0, dtype=np.int16))
    assert not is_audible(_tone(100))
    assert is_audible(_tone(8000))


def test_the_threshold_is_configurable() -> None:
    """A lower threshold hears a whisper the default does not."""
    whisper = _tone(100)
    assert rms(whisper) < level_amplitude()
    assert is_audible(whisper, threshold_dbfs=-60.0)


def test_audible_windows_judge_whole_windows_only() -> None:
    """Each whole window is judged on its own; a short tail is left out."""
    track = np.concatenate([np.zeros(80, dtype=np.int16), _tone(8000, 80), _tone(8000, 40)])
    assert audible_windows(track, 80).tolist() == [False, True]
