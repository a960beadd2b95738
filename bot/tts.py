"""The offline text-to-speech stand-in: espeak-ng as a Pipecat ``TTSService``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from pipecat.frames.frames import Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from bot import espeak


class EspeakTTSService(TTSService):
    """Speaks with espeak-ng (22050 Hz), resampled by Pipecat to the output rate."""

    def __init__(self, **kwargs: object) -> None:
        # Every settings field is filled (None: not supported) or Pipecat logs an error.
        settings = TTSSettings(model=None, voice="en-us", language=None)
        super().__init__(push_start_frame=True, push_stop_frames=True, settings=settings, **kwargs)

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        audio = await asyncio.to_thread(espeak.synthesize, text)

        async def chunks() -> AsyncGenerator[bytes, None]:
            data = audio.astype("<i2").tobytes()
            step = espeak.SAMPLE_RATE // 10 * 2  # 100 ms
            for i in range(0, len(data), step):
                yield data[i : i + step]

        async for frame in self._stream_audio_frames_from_iterator(
            chunks(), in_sample_rate=espeak.SAMPLE_RATE, context_id=context_id
        ):
            yield frame
