"""A user's own bot on bwsim's stand-ins, chosen as the README shows, under bwsim.

``tests/bots/standins_bot.py`` shares no code with the reference bot; it picks
``simulator.standins`` because bwsim sets ``BWSIM_STANDINS=1`` for the bots it starts.
The caller's line comes from bwsim's control API, the scripted LLM answers it with the
farewell and calls the bot's ``end_call`` through Pipecat's function calling, and the
serializer hangs the call up.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import soxr

from simulator import AppTarget, CallOptions, Harness, LiveCall
from simulator.protocol.codec import Pcm
from simulator.standins import espeak

BOT = "tests.bots.standins_bot:app"
LINE = "Okay, bye!"
"""Not among the default script's caller lines: the bot can only have it from bwsim."""


def spoken(text: str) -> Pcm:
    """What the caller says: ``text`` by espeak-ng, resampled to the phone's 8 kHz."""
    return cast(
        "Pcm", soxr.resample(espeak.synthesize(text), espeak.SAMPLE_RATE, 8000).astype(np.int16)
    )


async def caller(call: LiveCall) -> None:
    """Hear the greeting out, say goodbye, stay on the line until the bot hangs up."""
    await call.wait_for("bot-speech-end", timeout_ms=15_000)
    await call.say(spoken(LINE), label=LINE)
    await call.pause(20_000)


async def test_a_users_bot_greets_hears_bwsims_line_and_ends_the_call() -> None:
    """On the stand-ins the bot greets, says the farewell to bwsim's line, and hangs up."""
    async with Harness(AppTarget(BOT)) as h:
        result = await h.place_call(caller, options=CallOptions(caller_lines=[LINE], max_call_s=40))
        hangups = [e.status for e in h.fake.journal.hangups(result.call_id)]
    assert len(result.events("bot-speech-start")) == 2  # the greeting, then the farewell
    assert (result.phase, result.disconnect_cause) == ("disconnected", "hangup")
    assert hangups[:1] == [200]
    assert result.violations == []


async def test_with_bwsim_standins_0_the_bot_is_on_its_providers() -> None:
    """BWSIM_STANDINS=0 reaches the bot: with no provider installed its stream fails, silent."""
    async with Harness(AppTarget(BOT), bot_env={"BWSIM_STANDINS": "0"}) as h:
        result = await h.place_call(caller, options=CallOptions(caller_lines=[LINE], max_call_s=8))
    assert result.events("bot-speech-start") == []
    assert result.streams[0].closed_by == "dropped"  # the handler failed building providers
