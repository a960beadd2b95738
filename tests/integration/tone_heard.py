"""A bot's tone as the caller hears it, however late a busy machine let the bot send it.

A bot that sends its audio late (a process starved of CPU, pacing its sends in real time
or not) lets bwsim's playout queue run dry: the caller hears the tone stutter, or, with
a pause of 500 ms or more, as two spells of speech. Tests that check a tone's length
and place wait for all of it to be heard (:func:`wait_until_heard`), and subtract the
silences bwsim recorded inside it (:func:`silences_ms`), rather than assume that the
sends kept up with the clock.
"""

from __future__ import annotations

import numpy as np

from simulator.call.live import LiveCall
from simulator.call.result import CallResult
from simulator.protocol.codec import Pcm, ulaw_decode, ulaw_encode

__all__ = ["LOUD", "as_heard", "loud_samples", "silences_ms", "wait_until_heard"]

LOUD = 2000
"""A bot-channel sample above this is the tests' tones (peaks of 8,000 and more), not silence."""


def as_heard(tone: Pcm) -> Pcm:
    """``tone`` as the caller hears it: through μ-law."""
    return ulaw_decode(ulaw_encode(tone))


def loud_samples(audio: Pcm) -> int:
    """How many samples of ``audio`` are loud: a tone's share of it."""
    return int(np.count_nonzero(np.abs(audio) > LOUD))


async def wait_until_heard(call: LiveCall, tone: Pcm, *, timeout_ms: float = 10_000) -> None:
    """Wait for the end of the bot's speech in which all of ``tone`` has been heard.

    ``timeout_ms`` only bounds a bot that never sends it all.
    """
    needed = loud_samples(as_heard(tone))
    await call.wait_for(
        "bot-speech-end",
        timeout_ms=timeout_ms,
        where=lambda _: loud_samples(call.recorder.bot_track()) >= needed,
    )


def silences_ms(result: CallResult) -> float:
    """The time the bot's audio ran dry between its first and last sample, as bwsim saw it.

    The gaps inside each spell of speech (``gaps_ms`` on its end) and the silences
    between spells: zero when the bot's audio kept up with the clock.
    """
    ends, starts = result.events("bot-speech-end"), result.events("bot-speech-start")
    inside = sum(sum(end.detail["gaps_ms"]) for end in ends)
    between = sum(start.at_ms - end.at_ms for end, start in zip(ends, starts[1:], strict=False))
    return float(inside + between)
