"""A recorded caller cut into turns, and when each turn is sent in a turn-by-turn replay.

Pure functions over audio (no I/O, no clock). Turns are found as the metrics find them
(:func:`simulator.judge.metrics.caller_turns`: the same energy threshold, the same
merging of pauses), so a replay's turns are the turns its comparison measures.

In a turn-by-turn replay (``--timing turns``) each caller turn waits for what it waited
for in the recording, then for the same delay:

- the first turn: the bot's greeting beginning (``greeting``), or the stream opening when
  the caller spoke before the bot (``stream``);
- a later turn: the bot's reply to the turn before it beginning (``reply``), or the turn
  before it ending when the bot said nothing in between (``turn-end``).

A caller turn that began while the bot was heard (a barge-in) began a few hundred ms into
the bot's reply; it is sent that long after the bot starts replying now, so it stays a
barge-in when the bot answers as it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from simulator.judge.metrics import MetricsConfig, Span, caller_turns, speech_spans
from simulator.protocol.codec import Pcm
from simulator.protocol.media import SAMPLES_PER_MS

__all__ = ["EDGE_PAD_MS", "Anchor", "TurnStep", "split_turns", "turn_schedule"]

Anchor = Literal["stream", "greeting", "reply", "turn-end"]
"""What a caller turn waits for before its delay: see the module docstring."""

EDGE_PAD_MS: Final = 20.0
"""Audio kept either side of a turn's audible edges (a quiet onset, a trailing breath)."""


@dataclass(frozen=True)
class TurnStep:
    """One caller turn of a recording and when a turn-by-turn replay sends it."""

    index: int
    """The turn's number, 1 first (as the metrics number turns)."""
    start_ms: float
    end_ms: float
    """The turn's audible edges in the recording, on the archive's clock."""
    after: Anchor
    delay_ms: float
    """How long after ``after`` the turn began in the recording."""
    barge_in: bool
    """The turn began while the bot was heard."""
    samples: Pcm = field(repr=False, compare=False)
    """The turn's audio (with :data:`EDGE_PAD_MS` either side, never into another turn)."""

    def describe(self) -> str:
        """When the turn is sent, in words."""
        what = {
            "stream": "the stream opened",
            "greeting": "the bot began its greeting",
            "reply": f"the bot began answering turn {self.index - 1}",
            "turn-end": f"turn {self.index - 1} ended (the bot did not answer it)",
        }[self.after]
        tail = " (a barge-in)" if self.barge_in else ""
        return f"turn {self.index}: {self.delay_ms:.0f} ms after {what}{tail}"


def split_turns(track: Pcm, config: MetricsConfig | None = None) -> list[Pcm]:
    """Cut a plain mono recording (8 kHz, no bot leg) into the caller's turns' audio."""
    spans = caller_turns(track, config)
    return [_cut(track, spans, i) for i in range(len(spans))]


def turn_schedule(
    caller: Pcm,
    bot: Pcm,
    *,
    stream_opened_ms: float | None,
    config: MetricsConfig | None = None,
) -> list[TurnStep]:
    """The caller's turns on a recording's two legs (one clock), each with its anchor."""
    cfg = config or MetricsConfig()
    turns = caller_turns(caller, cfg, bot_track=bot)
    bot_spans = speech_spans(bot, cfg.bot_threshold_dbfs, cfg)
    opened = stream_opened_ms or 0.0
    steps: list[TurnStep] = []
    for i, turn in enumerate(turns):
        after: Anchor
        if i == 0:
            greeting = next(
                (b for b in bot_spans if b.end_ms > opened and b.start_ms < turn.start_ms), None
            )
            after, anchor = (
                ("greeting", max(greeting.start_ms, opened))
                if greeting is not None
                else ("stream", opened)
            )
        else:
            prev = turns[i - 1]
            reply = next((b for b in bot_spans if prev.end_ms <= b.start_ms < turn.start_ms), None)
            after, anchor = (
                ("reply", reply.start_ms) if reply is not None else ("turn-end", prev.end_ms)
            )
        steps.append(
            TurnStep(
                index=i + 1,
                start_ms=turn.start_ms,
                end_ms=turn.end_ms,
                after=after,
                delay_ms=max(0.0, turn.start_ms - anchor),
                barge_in=any(b.start_ms < turn.start_ms < b.end_ms for b in bot_spans),
                samples=_cut(caller, turns, i),
            )
        )
    return steps


def _cut(track: Pcm, spans: list[Span], i: int) -> Pcm:
    """Span ``i``'s audio, padded by :data:`EDGE_PAD_MS` but never into its neighbours."""
    span = spans[i]
    lo_ms = span.start_ms - EDGE_PAD_MS
    hi_ms = span.end_ms + EDGE_PAD_MS
    if i > 0:
        lo_ms = max(lo_ms, (spans[i - 1].end_ms + span.start_ms) / 2)
    if i + 1 < len(spans):
        hi_ms = min(hi_ms, (span.end_ms + spans[i + 1].start_ms) / 2)
    lo = max(0, round(lo_ms * SAMPLES_PER_MS))
    hi = min(len(track), round(hi_ms * SAMPLES_PER_MS))
    return track[lo:hi].copy()
