"""The offline TTS stand-in: espeak-ng through ctypes, from the espeakng-loader wheel."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.standins import espeak
from simulator.standins.tts import speak


def test_hello_is_non_silent_int16_at_22050_hz() -> None:
    """Synthesizing "hello" gives int16 mono samples at 22050 Hz with real speech in them."""
    audio = espeak.synthesize("hello")
    assert espeak.SAMPLE_RATE == 22050
    assert audio.dtype == np.int16
    assert audio.ndim == 1
    assert 0.2 < len(audio) / espeak.SAMPLE_RATE < 2.0
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
    assert rms > 500  # speech, not silence or a click


def test_calls_do_not_leak_audio_into_each_other() -> None:
    """Each synthesis returns only its own text's audio (the callback buffer is per call)."""
    short = espeak.synthesize("hi")
    long = espeak.synthesize("hello there, how are you doing today")
    again = espeak.synthesize("hi")
    assert len(long) > 2 * len(short)
    assert abs(len(again) - len(short)) < 0.01 * espeak.SAMPLE_RATE  # same text, same length


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_speech_is_resampled_to_the_pipeline_rate(rate: int) -> None:
    """The TTS service's audio is 16-bit PCM at the output rate, as long as the speech."""
    text = "hello"
    pcm = speak(text, rate)
    seconds = len(espeak.synthesize(text)) / espeak.SAMPLE_RATE
    assert len(pcm) % 2 == 0
    assert abs(len(pcm) / 2 / rate - seconds) < 0.01


def test_empty_text_gives_no_audio() -> None:
    """Nothing to say gives an empty array, not an error."""
    assert len(espeak.synthesize("")) == 0
