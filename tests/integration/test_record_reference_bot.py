"""The reference bot behind ``bwsim record``: the call goes as it goes direct, and is archived.

bwsim serves the reference bot (``bot.app:app``, offline stand-ins) with its Voice API
and token URLs pointed at the recorder, which stands in front of bwsim's fake Voice API
(``--voice-api``/``--oauth-url``). The caller talks over the greeting and says goodbye;
the bot clears, says its farewell and hangs up through the Voice API. The same things
happen as in ``test_bot_call.py``'s direct call, and the archive holds them: the bot's
``clear``, its hang-up request, the caller's speech.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import soxr

from simulator.archive import CallArchive, recorded_audio
from simulator.call.live import LiveCall
from simulator.protocol.codec import Pcm
from simulator.standins import espeak
from tests.integration.bot_under_test import short_script
from tests.integration.recording import record_call

LINE = "Goodbye."


def _spoken(text: str) -> Pcm:
    return cast(
        "Pcm", soxr.resample(espeak.synthesize(text), espeak.SAMPLE_RATE, 8000).astype(np.int16)
    )


async def _caller(call: LiveCall) -> None:
    start = await call.wait_for("bot-speech-start", timeout_ms=10_000)
    await call.pause(600)  # talk over the greeting
    await call.say(_spoken(LINE), label=LINE)
    await call.wait_for("bot-speech-start", timeout_ms=15_000, after_ms=start.at_ms + 1)
    await call.pause(20_000)  # on the line until the bot hangs up


async def test_the_reference_bot_behind_the_recorder_clears_and_hangs_up_as_direct(
    tmp_path: Path,
) -> None:
    """Through the recorder the bot still clears and hangs up; the archive holds both."""
    greeting = "Hello, and thank you for calling. How can I help you today?"
    recording = await record_call(
        "bot.app:app",
        tmp_path / "archive",
        _caller,
        bot_env={"BOT_SCRIPT": str(short_script(tmp_path, LINE, greeting=greeting))},
        caller_lines=[LINE],
        max_call_s=40,
    )
    result, folder, hangups = recording.result, recording.folder, recording.hangup_statuses

    # As direct (test_bot_call.py): the greeting cleared, the farewell, the bot's hang-up.
    assert result.errors == []
    assert result.violations == []
    clears = result.events("clear")
    assert clears and clears[0].detail["bot_was_speaking"] is True
    assert len(result.events("bot-speech-start")) == 2
    assert (result.phase, result.disconnect_cause) == ("disconnected", "hangup")
    assert hangups[0] == 200

    archive = CallArchive.load(folder)
    bot_events = [f.event_type for f in archive.frames_of(0, "bot")]
    assert bot_events.count("clear") == len(clears)
    assert archive.voice_api is not None
    # The hang-up requests the fake Voice API got came through the recorder and are kept,
    # in order (the bot may try again once the call is gone, answered 404, perhaps after
    # the recorder stopped).
    completed = [a for a in archive.voice_api if '"completed"' in a.body]
    assert completed and completed[0].status == 200
    assert [a.status for a in completed] == hangups[: len(completed)]
    audio = recorded_audio(archive)
    assert audio.clears_ms and np.count_nonzero(audio.caller) and np.count_nonzero(audio.bot)
