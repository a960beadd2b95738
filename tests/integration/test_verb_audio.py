"""Verbs that take time, against a real bot: what the caller hears, and for how long.

The bot (``tests/bots/verb_audio_bot.py``) runs under a real uvicorn on loopback and
answers with an outbound-track stream, a ``<SpeakSentence>``, a ``<PlayAudio>`` of a WAV
it serves, a ``<PlayAudio>`` of a file it does not have, and ``<Hangup>``
(docs/bandwidth.md §3.5). One call is placed for the whole module.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.recorder import TimelineEvent
from simulator.call.result import CallResult
from simulator.protocol.audio_level import is_audible
from simulator.protocol.codec import FRAME_BYTES, PHONE_RATE, Pcm, ulaw_decode
from simulator.protocol.verbs import speech_seconds
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import verb_audio_bot as bot

DEFAULT_S = 0.5
"""``play_audio_s`` for the call: how long the file the bot lacks is played."""


async def _stay(live: LiveCall) -> None:
    """The caller stays on the line until the BXML hangs up."""
    await live.wait_for("call_ended", timeout_ms=20_000)


async def _place() -> CallResult:
    options = CallOptions(auth_mode="preemptive", max_call_s=30, play_audio_s=DEFAULT_S)
    async with serve(bot.app) as server, Harness(UrlTarget(server.base_url)) as harness:
        return await harness.place_call(_stay, options=options)


@pytest.fixture(scope="module")
def call() -> CallResult:
    """One call to the bot, run to its end (the BXML hangs up)."""
    result = asyncio.run(_place())
    assert result.errors == []
    return result


def peak_hz(samples: Pcm) -> float:
    """The strongest frequency in ``samples`` (8 kHz)."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / PHONE_RATE)[int(np.argmax(spectrum))])


def starts(call: CallResult) -> list[TimelineEvent]:
    """The ``verb-audio-start`` events of the call."""
    return call.events("verb-audio-start")


def test_play_audio_holds_for_the_real_length_of_the_bots_wav(call: CallResult) -> None:
    """The WAV the bot serves is played for its length, and only then does the next verb run."""
    speak, hold, missing = starts(call)
    assert (speak.detail["verb"], speak.detail["sound"]) == ("SpeakSentence", "tone")
    assert speak.detail["seconds"] == round(speech_seconds(bot.SPOKEN), 3)
    assert (hold.detail["sound"], hold.detail["seconds"]) == ("file", bot.HOLD_S)
    assert missing.at_ms - hold.at_ms >= bot.HOLD_S * 1000 - 1
    ends = call.events("verb-audio-end")
    assert [e.detail["verb"] for e in ends] == ["SpeakSentence", "PlayAudio", "PlayAudio"]
    assert ends[1].at_ms - hold.at_ms == pytest.approx(bot.HOLD_S * 1000)


def test_a_file_the_bot_does_not_serve_lasts_the_default_with_a_note(call: CallResult) -> None:
    """A 404 for the file: play_audio_s of tone, and a note naming the URL and the status."""
    missing = starts(call)[2]
    assert (missing.detail["url"], missing.detail["sound"]) == (bot.MISSING, "tone")
    assert missing.detail["seconds"] == DEFAULT_S
    notes = [str(e.detail["detail"]) for e in call.events("note")]
    [note] = [n for n in notes if bot.MISSING in n]
    assert "HTTP 404" in note and "CallOptions.play_audio_s" in note
    hangup = next(e for e in call.timeline if e.kind == "verb" and e.detail["verb"] == "Hangup")
    assert hangup.at_ms - missing.at_ms >= DEFAULT_S * 1000 - 1


def test_the_outbound_track_stream_hears_the_tone_then_the_file(call: CallResult) -> None:
    """A tracks="outbound" stream gets the speech tone, then the bot's WAV, as μ-law frames."""
    media = [m for m in bot.SEEN["monitor"] if m["eventType"] == "media"]
    assert {m["track"] for m in media} == {"outbound"}
    frames = [ulaw_decode(base64.b64decode(m["payload"])) for m in media]
    assert {len(f) for f in frames} == {FRAME_BYTES}
    heard = [f for f in frames if is_audible(f)]
    assert len(heard) * 20 >= 1000  # most of 1.15 s of tone and 1.5 s of file
    hz = [peak_hz(np.concatenate(heard[i : i + 10])) for i in range(0, len(heard) - 9, 10)]
    assert hz[0] == pytest.approx(440, abs=20)
    assert any(h == pytest.approx(bot.HOLD_HZ, abs=20) for h in hz)


def test_call_wav_has_each_verbs_sound_on_the_bot_side(call: CallResult, tmp_path: Path) -> None:
    """call.wav's right channel holds the tone, then the file, each at the time it played."""
    wav, rate = sf.read(call.write(tmp_path)["wav"], dtype="int16")
    assert rate == PHONE_RATE
    caller, bot_side = wav[:, 0], wav[:, 1]
    assert not np.any(caller)  # the caller said nothing
    for event, hz in zip(starts(call), (440, bot.HOLD_HZ, 440), strict=True):
        at = round(event.at_ms * PHONE_RATE / 1000)
        window = bot_side[at + 400 : at + 400 + PHONE_RATE // 4]
        assert is_audible(window), event
        assert peak_hz(window) == pytest.approx(hz, abs=20), event
