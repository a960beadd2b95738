"""The reference bot under bwsim: whole calls, with spoken caller turns, end to end.

bwsim serves the bot (``--app bot.app:app``, no keys, offline stand-ins), places the call,
streams the caller's speech (espeak-ng, 8 kHz) in real time and plays the bot's audio
back on its clock. The caller lines reach the bot's stand-in STT through
``BWSIM_CONTROL_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest
import soxr

from simulator import AppTarget, CallOptions, Harness, LiveCall
from simulator.protocol.codec import Pcm
from simulator.standins import espeak
from tests.integration.bot_under_test import short_script

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")

PCM24K = "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"


def spoken(text: str) -> Pcm:
    """What the caller says: ``text`` by espeak-ng, resampled to the phone's 8 kHz."""
    return cast(
        "Pcm", soxr.resample(espeak.synthesize(text), espeak.SAMPLE_RATE, 8000).astype(np.int16)
    )


async def test_caller_barges_in_says_goodbye_and_the_bot_hangs_up(tmp_path: Path) -> None:
    """Speech over the greeting clears it; a goodbye gets the farewell, then the hang-up."""
    line = "Goodbye."
    greeting = "Hello, and thank you for calling. How can I help you today?"
    env = {"BOT_SCRIPT": str(short_script(tmp_path, line, greeting=greeting))}

    async def caller(call: LiveCall) -> None:
        start = await call.wait_for("bot-speech-start", timeout_ms=10_000)
        await call.pause(600)  # talk over the greeting, well into it
        await call.say(spoken(line), label=line)
        await call.wait_for("bot-speech-start", timeout_ms=15_000, after_ms=start.at_ms + 1)
        await call.pause(20_000)  # on the line until the bot hangs up

    async with Harness(AppTarget("bot.app:app"), bot_env=env) as h:
        result = await h.place_call(caller, options=CallOptions(caller_lines=[line], max_call_s=40))
        hangups = [e.status for e in h.fake.journal.hangups(result.call_id)]

    clears = result.events("clear")
    assert clears
    assert clears[0].detail["bot_was_speaking"] is True
    interrupted = [e for e in result.events("bot-speech-end") if e.detail.get("interrupted")]
    assert interrupted  # the greeting stopped when the caller talked over it
    # The greeting, then the farewell; a bot starved of CPU (three xdist workers on two
    # cores) may pause 500 ms mid-sentence, which bwsim rightly hears as a third spell.
    assert len(result.events("bot-speech-start")) >= 2
    assert (result.phase, result.disconnect_cause) == ("disconnected", "hangup")
    assert hangups[0] == 200  # the serializer hung the live call up after the farewell
    assert result.violations == []
    assert result.streams[0].content_types == ["audio/pcmu"]


async def test_caller_asks_for_a_person_and_is_transferred(tmp_path: Path) -> None:
    """Asking for a person: the bot announces it, PUTs <Transfer>, never hangs up; bridged."""
    line = "Can I talk to a person?"
    announcement = "Of course, let me connect you to a person."
    script = short_script(tmp_path, line, transfer_line=announcement)

    async def caller(call: LiveCall) -> None:
        await call.wait_for("bot-speech-end", timeout_ms=10_000)
        await call.say(spoken(line), label=line)
        await call.pause(20_000)  # until the transfer takes the caller away

    env = {"BOT_OUTBOUND_ENCODING": "pcm24k", "BOT_SCRIPT": str(script)}
    async with Harness(AppTarget("bot.app:app"), bot_env=env) as h:
        options = CallOptions(caller_lines=[line], max_call_s=40)
        result = await h.place_call(caller, options=options)
        transfers = h.fake.journal.find(route="update_bxml", call_id=result.call_id)
        hangups = h.fake.journal.hangups(result.call_id)
        number = h.credentials.human_agent_number

    (ended,) = result.events("transfer-ended")
    assert (ended.detail["bridged"], ended.detail["to"]) == (True, number)
    assert [t.status for t in transfers] == [204]
    assert f"<PhoneNumber>{number}</PhoneNumber></Transfer>" in transfers[0].body
    speech = result.events("bot-speech-start")
    assert len(speech) == 2  # the greeting, then the announcement, played before the transfer
    assert result.events("transfer")[0].at_ms > speech[1].at_ms + 1000
    assert hangups == []
    assert result.violations == []
    assert result.streams[0].content_types == [PCM24K]


async def _drop_after_greeting(call: LiveCall) -> None:
    await call.wait_for("bot-speech-end", timeout_ms=10_000)
    call.drop_streams()
    await call.pause(15_000)  # the call stays up until someone hangs it up


async def test_the_bot_hangs_its_call_up_when_the_stream_drops(tmp_path: Path) -> None:
    """A media connection that dies under <Pause> makes the bot hang its own call up."""
    env = {"BOT_SCRIPT": str(short_script(tmp_path, "Hello."))}
    async with Harness(AppTarget("bot.app:app"), bot_env=env) as h:
        result = await h.place_call(
            _drop_after_greeting, options=CallOptions(max_call_s=30, orphan_grace_s=5)
        )
        hangups = [e.status for e in h.fake.journal.hangups(result.call_id)]
    assert result.streams[0].closed_by == "dropped"
    assert not result.streams[0].stop_sent
    assert (result.phase, result.disconnect_cause) == ("disconnected", "hangup")
    assert hangups[:1] == [200]  # the bot's own hang-up ended the live call
    assert result.violations == []


async def test_the_guides_bot_leaves_an_orphaned_leg_when_the_stream_drops(tmp_path: Path) -> None:
    """The guide's pattern (serializer hang-up only) is caught leaving the call up."""
    env = {"MEDIA_BOT_DIR": str(tmp_path)}
    async with Harness(AppTarget("tests.bots.media_bot:app"), bot_env=env) as h:
        result = await h.place_call(
            _drop_after_greeting, options=CallOptions(max_call_s=30, orphan_grace_s=2)
        )
        hangups = h.fake.journal.hangups(result.call_id)
    assert result.streams[0].closed_by == "dropped"
    assert hangups == []
    assert [v.kind for v in result.violations] == ["orphaned-leg"]
