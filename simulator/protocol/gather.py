"""How a ``<Gather>`` collects the caller's digits, Sans-I/O: key presses and times in.

:class:`DigitCollector` keeps the rules of one ``<Gather>`` (docs/bandwidth.md §3.4). It
reads no clock: the caller passes ``now`` (seconds on any monotonic clock) with each key
press and timer, and reads :attr:`DigitCollector.deadline` to know when to call
:meth:`DigitCollector.timer` next. The rules:

- the nested prompts (``<SpeakSentence>``, ``<PlayAudio>``) play first; a key pressed
  while they play stops them and counts;
- with no key pressed, the prompts are played ``repeatCount`` times, each followed by
  ``firstDigitTimeout`` seconds of waiting; after the last wait the gather ends with no
  digits;
- a terminating digit ends the gather; it is reported as ``terminatingDigit`` and is not
  one of the ``digits``;
- the ``maxDigits``-th digit ends the gather at once (``terminatingDigit`` is empty);
- after a key, ``interDigitTimeout`` seconds without another end the gather.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulator.protocol.verbs import Gather, StartGather, gather_prompt_seconds

__all__ = [
    "DTMF_DIGITS",
    "DigitCollector",
    "DigitPressed",
    "GatherEnded",
    "GatherResult",
    "SendDtmf",
    "check_digits",
    "start_collector",
]

DTMF_DIGITS = "0123456789*#ABCD"
"""The keys of a DTMF keypad (``A``-``D`` are the fourth column, rare on phones)."""

Reason = Literal["terminating-digit", "max-digits", "inter-digit-timeout", "first-digit-timeout"]


def check_digits(digits: str) -> str:
    """Return ``digits`` if every character is a DTMF key, else raise ``ValueError``."""
    bad = sorted({d for d in digits if d not in DTMF_DIGITS})
    if bad or not digits:
        what = f"{', '.join(repr(b) for b in bad)} are not DTMF keys" if bad else "no keys given"
        msg = f"DTMF digits {digits!r}: {what}; use 0-9, *, # and A-D"
        raise ValueError(msg)
    return digits


@dataclass(frozen=True)
class GatherResult:
    """How a gather ended: the ``digits`` and ``terminatingDigit`` its webhook carries."""

    digits: str
    terminating_digit: str
    """The terminating digit pressed, or ``""`` when none was (as Bandwidth sends it)."""
    reason: Reason
    prompts_played: int
    """How many times the prompts began (0 when there are none)."""


class DigitCollector:
    """One running ``<Gather>``: feed it key presses and timers, read when it ends."""

    def __init__(
        self,
        *,
        now: float,
        max_digits: int,
        terminating_digits: str,
        first_digit_timeout_s: float,
        inter_digit_timeout_s: float,
        prompt_s: float = 0.0,
        repeat_count: int = 1,
    ) -> None:
        self.max_digits = max_digits
        self.terminating_digits = terminating_digits
        self.first_digit_timeout_s = first_digit_timeout_s
        self.inter_digit_timeout_s = inter_digit_timeout_s
        self.prompt_s = prompt_s
        self.rounds = max(1, repeat_count) if prompt_s > 0 else 1
        self.started = now
        self.digits = ""
        self._first_key: float | None = None
        self.deadline = now + self.rounds * (prompt_s + first_digit_timeout_s)
        """When :meth:`timer` must next be called (the gather may end then)."""

    def prompting(self, now: float) -> bool:
        """Whether a prompt is playing at ``now`` (no key has been pressed yet)."""
        if self._first_key is not None or self.prompt_s <= 0:
            return False
        into = (now - self.started) % (self.prompt_s + self.first_digit_timeout_s)
        return now < self.deadline and into < self.prompt_s

    def _played(self, at: float) -> int:
        if self.prompt_s <= 0:
            return 0
        period = self.prompt_s + self.first_digit_timeout_s
        return min(self.rounds, int(max(0.0, at - self.started) // period) + 1)

    def press(self, digit: str, now: float) -> GatherResult | None:
        """The caller pressed ``digit`` at ``now``; the result when that ends the gather."""
        if self._first_key is None:
            self._first_key = now
        if digit in self.terminating_digits:
            return self._end("terminating-digit", digit)
        self.digits += digit
        if len(self.digits) >= self.max_digits:
            return self._end("max-digits")
        self.deadline = now + self.inter_digit_timeout_s
        return None

    def timer(self, now: float) -> GatherResult | None:
        """The time asked for has come; the result if the gather has timed out by ``now``."""
        if now < self.deadline:
            return None
        if self._first_key is None:
            return self._end("first-digit-timeout")
        return self._end("inter-digit-timeout")

    def _end(self, reason: Reason, terminator: str = "") -> GatherResult:
        # With no key, every round has played by the deadline (the end of the last wait).
        at = self._first_key if self._first_key is not None else self.deadline - 1e-9
        return GatherResult(self.digits, terminator, reason, self._played(at))


def start_collector(step: Gather, now: float) -> DigitCollector:
    """The collector of ``step``, a ``<Gather>`` that begins at ``now``."""
    return DigitCollector(
        now=now,
        max_digits=step.max_digits,
        terminating_digits=step.terminating_digits,
        first_digit_timeout_s=step.first_digit_timeout_s,
        inter_digit_timeout_s=step.inter_digit_timeout_s,
        prompt_s=gather_prompt_seconds(step),
        repeat_count=step.repeat_count,
    )


# -- the BXML runner's event and commands for DTMF (simulator.protocol.bxml_runner) --------


@dataclass(frozen=True)
class DigitPressed:
    """Event: the caller pressed one DTMF key."""

    digit: str


@dataclass(frozen=True)
class GatherEnded:
    """Command: record that a ``<Gather>`` ended (the timeline's ``gather`` event), and how."""

    step: Gather
    result: GatherResult


@dataclass(frozen=True)
class SendDtmf:
    """Command: send the ``dtmf`` webhook for ``digit`` as ``<StartGather>`` asked."""

    step: StartGather
    digit: str
