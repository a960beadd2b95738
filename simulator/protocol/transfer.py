"""What the people a ``<Transfer>`` dials do, and what that makes of the transfer, Sans-I/O.

A ``<Transfer>`` rings each of its targets at once (docs/bandwidth.md §2.7, §3.2). bwsim
plays those people by a :class:`TransferParty`: after ``ring_ms`` the first target
answers (the others are cancelled) and talks for ``talk_ms``, or every target is busy,
does not answer, or rejects. :func:`transfer_outcome` turns that into the causes the
transfer webhooks carry. The media stream of the A-leg during the bridge is not
documented; :data:`TRANSFER_STREAMS` names the two accounts bwsim can play
(docs/bandwidth.md §5.5, §6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from simulator.protocol.verbs import (
    Hangup,
    Pause,
    Ring,
    SpeakSentence,
    Step,
    Tag,
    Transfer,
    speech_seconds,
)

__all__ = [
    "DEFAULT_TALK_MS",
    "DEFAULT_TRANSFER_RING_MS",
    "TRANSFER_ANSWERS",
    "TRANSFER_STREAMS",
    "TransferOutcome",
    "TransferParty",
    "TransferStream",
    "Whisper",
    "transfer_error_message",
    "transfer_outcome",
    "whisper",
]

TRANSFER_ANSWERS: Final = ("answered", "busy", "no-answer", "rejected")
"""What a transfer target does once it has rung."""
DEFAULT_TRANSFER_RING_MS: Final = 1000.0
"""How long a transfer target rings before it answers, is busy or rejects, by default."""
DEFAULT_TALK_MS: Final = 3000.0
"""How long an answered transfer target talks with the caller before hanging up, by default."""

TransferStream = Literal["ends", "stays"]
TRANSFER_STREAMS: Final[tuple[TransferStream, ...]] = ("ends", "stays")
"""What the A-leg's media stream does when a transfer starts (``CallOptions.transfer_stream``):

- ``ends`` (the default, the Pipecat guide's account): Bandwidth stops the stream and the
  A-leg leaves the application's control until the transfer is over: the Voice API
  answers 404 for it, a later hang-up included.
- ``stays`` (the API reference's account): the A-leg and its stream stay up during the
  bridge, and the Voice API can still change the call; hanging it up drops the caller
  from the person they were handed to.
"""

_END_CAUSES: Final = {"busy": "busy", "no-answer": "timeout", "rejected": "rejected"}
_MESSAGES: Final = {
    "busy": "Callee is busy",
    "timeout": "Call was not answered",
    "rejected": "Call was rejected",
    "cancel": "Call was cancelled: another target answered first",
}


@dataclass(frozen=True)
class TransferParty:
    """What every target of a transfer does (``call.transfer`` in a scenario).

    ``ring_ms`` None rings for :data:`DEFAULT_TRANSFER_RING_MS`, except ``no-answer``,
    which rings for the verb's ``callTimeout``, as Bandwidth does before it gives up. A
    ring longer than ``callTimeout`` is a ``no-answer`` whatever ``answer`` says.
    """

    answer: str = "answered"
    ring_ms: float | None = None
    talk_ms: float = DEFAULT_TALK_MS

    def __post_init__(self) -> None:
        if self.answer not in TRANSFER_ANSWERS:
            msg = f"answer must be one of {', '.join(TRANSFER_ANSWERS)}, got {self.answer!r}"
            raise ValueError(msg)
        for name in ("ring_ms", "talk_ms"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a number of milliseconds >= 0, got {value!r}")

    def ring_s(self, step: Transfer) -> float:
        """How long the targets of ``step`` ring, in seconds."""
        if self.ring_ms is not None:
            ring = self.ring_ms / 1000
        elif self.answer == "no-answer":
            ring = step.call_timeout_s
        else:
            ring = DEFAULT_TRANSFER_RING_MS / 1000
        return min(ring, step.call_timeout_s)


@dataclass(frozen=True)
class TransferOutcome:
    """How a transfer ended: the B-leg's ``cause`` and whether a target was bridged."""

    cause: str
    bridged: bool
    to: str
    """The target the webhooks name: the one that answered, else the first."""
    error_message: str | None = None


def transfer_error_message(cause: str) -> str | None:
    """The ``errorMessage`` a B-leg that ended with ``cause`` carries (None for ``hangup``)."""
    return _MESSAGES.get(cause)


def transfer_outcome(party: TransferParty, step: Transfer) -> TransferOutcome | None:
    """The outcome when no target answers; None when the first target answers."""
    to = step.targets[0] if step.targets else ""
    ring_ms = party.ring_s(step) * 1000
    if party.answer == "answered" and party.ring_ms is not None and party.ring_ms > ring_ms:
        cause = "timeout"  # it would have answered after callTimeout: too late
    else:
        cause = _END_CAUSES.get(party.answer, "")
    if not cause:
        return None
    return TransferOutcome(cause, False, to, transfer_error_message(cause))


@dataclass(frozen=True)
class Whisper:
    """What the ``transferAnswer`` BXML does on the B-leg before the bridge (§2.7)."""

    seconds: float
    """How long it holds the B-leg (``<SpeakSentence>``, ``<Pause>``, ``<Ring>``)."""
    hangs_up: bool
    """It ends with ``<Hangup>``: the target hangs up and is never bridged."""
    skipped: tuple[str, ...]
    """Verbs bwsim does not run on a B-leg (noted)."""


def whisper(steps: tuple[Step, ...]) -> Whisper:
    """Read the ``transferAnswer`` BXML (docs/bandwidth.md §2.7): it runs on the B-leg only."""
    seconds, skipped = 0.0, list[str]()
    for step in steps:
        match step:
            case Pause() | Ring():
                seconds += step.seconds
            case SpeakSentence():
                seconds += speech_seconds(step.text)
            case Hangup():
                return Whisper(seconds, True, tuple(skipped))
            case Tag():
                pass
            case _:
                skipped.append(type(step).__name__)
    return Whisper(seconds, False, tuple(skipped))
