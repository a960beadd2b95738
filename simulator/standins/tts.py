"""The offline text-to-speech stand-in: espeak-ng as a Pipecat ``TTSService``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
import soxr
from pipecat.frames.frames import Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from simulator.standins import espeak

CHUNK_S = 0.1
"""Audio is handed on in 100 ms frames; the output transport paces it in real time."""


def speak(text: str, rate: int) -> bytes:
    """Synthesize ``text`` and resample it to ``rate``: 16-bit little-endian mono PCM."""
    audio = espeak.synthesize(text)
    if rate != espeak.SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, espeak.SAMPLE_RATE, rate, quality="HQ")
    return np.asarray(audio, dtype="<i2").tobytes()


class EspeakTTSService(TTSService):
    """Speaks with espeak-ng (22050 Hz), resampled with soxr to the pipeline's output rate.

    The base class opens an audio context and yields ``TTSStartedFrame`` before each
    sentence (``push_start_frame``) and ends it with ``TTSStoppedFrame``
    (``push_stop_frames``); :meth:`run_tts` yields the ``TTSAudioRawFrame`` between.
    espeak-ng runs in a worker thread, so the event loop is never blocked.
    """

    def __init__(self, **kwargs: Any) -> None:
        # Every settings field is filled (None: not supported) or Pipecat logs an error.
        settings = TTSSettings(model=None, voice="en-us", language=None)
        super().__init__(push_start_frame=True, push_stop_frames=True, settings=settings, **kwargs)

    def can_generate_metrics(self) -> bool:
        """Yes: time to first byte and processing time, as a provider's TTS reports."""
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        """Speak ``text`` in a worker thread; yield it in 100 ms audio frames."""
        rate = self.sample_rate
        pcm = await asyncio.to_thread(speak, text, rate)
        await self.stop_ttfb_metrics()
        step = int(rate * CHUNK_S) * 2
        for i in range(0, len(pcm), step):
            yield TTSAudioRawFrame(pcm[i : i + step], rate, 1, context_id=context_id)
