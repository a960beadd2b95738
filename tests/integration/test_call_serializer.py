"""A call to a real Pipecat bot (real serializer, real transport, its own process).

The caller's file reaches the bot's pipeline as the same samples, within μ-law error; the
bot's tone comes back and sits in the right channel of the recording at the time the
caller hears it; the caller hanging up ends the bot's pipeline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simulator.call.audio_files import load_caller_audio
from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.protocol.codec import ulaw_decode, ulaw_encode
from simulator.runner.harness import Harness
from simulator.runner.targets import AppTarget
from tests.bots.media_bot import TONE as TONE_BYTES
from tests.integration.tone_heard import LOUD, as_heard, loud_samples, silences_ms, wait_until_heard

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")
TONE = np.frombuffer(TONE_BYTES, dtype="<i2")
"""The second of 1 kHz tone the bot plays."""


def _caller_file(tmp_path: Path) -> Path:
    """A 1.2 s stereo 16 kHz chirp: the resampler and the channel choice are on the path."""
    rate = 16000
    t = np.arange(int(1.2 * rate)) / rate
    chirp = np.sin(2 * np.pi * (200 + 600 * t) * t) * 0.4
    path = tmp_path / "caller.wav"
    sf.write(path, np.stack([chirp, chirp * 0.5], axis=1), rate, subtype="PCM_16")
    return path


async def test_caller_audio_reaches_the_bot_and_its_audio_comes_back(tmp_path: Path) -> None:
    """Input frames match the file; playAudio lands in the WAV; hang-up ends the pipeline."""
    source = _caller_file(tmp_path)
    voice = load_caller_audio(source, "left")
    target = AppTarget("tests.bots.media_bot:app")

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=10_000)
        await call.say(voice, "chirp")
        # All of the tone, even sent late by a starved bot (Pipecat paces it in real time).
        await wait_until_heard(call, TONE)
        await call.pause(200)

    async with Harness(target, bot_env={"MEDIA_BOT_DIR": str(tmp_path)}) as harness:
        result = await harness.place_call(caller, options=CallOptions(max_call_s=30))
        ended = tmp_path / f"{result.call_id}.ended"
        # The bot (another process) writes the file when its pipeline ends: a condition to
        # wait for, bounded only so that a pipeline that never ends fails, and says so.
        try:
            async with asyncio.timeout(60):
                while not ended.exists():  # noqa: ASYNC110  (a file another process writes)
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pytest.fail("the bot's pipeline did not end within 60 s of the caller hanging up")
        paths = result.write(tmp_path / "out")
    heard = np.frombuffer((tmp_path / f"{result.call_id}.pcm").read_bytes(), dtype="<i2")
    expected = ulaw_decode(ulaw_encode(voice))
    # The caller spoke from its first frame after the socket opened; find it in the input.
    start = next(i for i in range(0, len(heard), 160) if np.any(heard[i : i + 160]))
    segment = heard[start : start + len(expected)].astype(np.int32)
    assert len(segment) == len(expected)
    error = np.abs(segment - expected.astype(np.int32))
    assert error.max() <= 4, f"bot input differs from the caller file by up to {error.max()}"

    assert result.streams[0].content_types == ["audio/pcmu"]
    first = result.events("bot-audio-first")[0]
    audio, rate = sf.read(paths["wav"], dtype="int16")
    assert rate == 8000
    loud = np.flatnonzero(np.abs(audio[:, 1]) > LOUD)
    assert abs(loud[0] / 8 - first.at_ms) <= 2
    assert len(loud) == loud_samples(as_heard(TONE))  # all of the tone, once
    # Played in real time: its second, plus the silences bwsim recorded where the bot's
    # audio came late (under CI load the tone spanned 1,037 ms, 37 ms of stutter).
    assert abs((loud[-1] - loud[0]) / 8 - silences_ms(result) - 1000) <= 25
    assert result.disconnect_cause == "hangup"
    assert result.streams[0].closed_by == "simulator"
