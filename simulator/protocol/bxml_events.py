"""What the BXML runner is told and what it asks: its events in, its commands out.

:class:`~simulator.protocol.bxml_runner.BxmlRunner` is fed an :data:`Event` for each thing
that happened on the call and answers with :data:`Command` s for its shell to carry out.
Pure data, no behaviour; :mod:`simulator.protocol.bxml_runner` re-exports every name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.protocol.gather import DigitPressed, GatherEnded, SendDtmf
from simulator.protocol.verb_audio import AudioFetched, FetchAudio, PlayVerbAudio
from simulator.protocol.verbs import (
    Fallback,
    Gather,
    Redirect,
    StartStream,
    Step,
    Transfer,
)

__all__ = [
    "Answer",
    "BxmlReplaced",
    "CloseStream",
    "Command",
    "Done",
    "EndTransfer",
    "Ended",
    "Event",
    "HangUp",
    "Note",
    "OpenStream",
    "Redirected",
    "RejectStream",
    "ReportOrphanedLeg",
    "SendWebhook",
    "SetTag",
    "SetTimer",
    "Started",
    "StreamClosed",
    "TimerFired",
    "Trace",
    "TransferCall",
    "TransferEnded",
    "VerbStarted",
    "WebhookAnswered",
    "WebhookFailed",
    "webhook_for",
]


# -- events: what happened ---------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The answer to the ``initiate`` webhook was parsed: run its steps."""

    steps: tuple[Step, ...]


@dataclass(frozen=True)
class WebhookAnswered:
    """The webhook the runner asked for answered with a valid document."""

    steps: tuple[Step, ...]


@dataclass(frozen=True)
class WebhookFailed:
    """The webhook the runner asked for was not delivered, or answered invalid BXML."""

    cause: str
    message: str | None = None


@dataclass(frozen=True)
class StreamClosed:
    """A stream's socket closed (or never opened); ``accepted`` if it had opened."""

    name: str
    accepted: bool


@dataclass(frozen=True)
class Redirected:
    """The Voice API asked for a redirect: fetch BXML from ``url`` and run it."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    method: str = "POST"
    fallback: Fallback | None = None
    tag: str | None = None


@dataclass(frozen=True)
class BxmlReplaced:
    """The Voice API replaced the call's BXML; ``steps`` is None when it was invalid."""

    steps: tuple[Step, ...] | None


@dataclass(frozen=True)
class TransferEnded:
    """The transfer the runner asked for is over and the A-leg is still up.

    The runner then sends ``transferComplete`` (when the verb has a
    ``transferCompleteUrl``) or runs the verbs after ``<Transfer>`` (docs/bandwidth.md §2.7).
    """


@dataclass(frozen=True)
class Ended:
    """The call ended (the caller or the bot hung up, or bwsim ended it)."""


@dataclass(frozen=True)
class TimerFired:
    """The time the last :class:`SetTimer` asked for has come."""


Event = (
    Started
    | WebhookAnswered
    | WebhookFailed
    | StreamClosed
    | Redirected
    | BxmlReplaced
    | TransferEnded
    | Ended
    | TimerFired
    | DigitPressed
    | AudioFetched
)


# -- commands: what the shell must do -----------------------------------------------------


@dataclass(frozen=True)
class VerbStarted:
    """Record that a verb begins (the timeline's ``verb`` event)."""

    step: Step


@dataclass(frozen=True)
class Note:
    """Record a note on the timeline."""

    text: str


@dataclass(frozen=True)
class Trace:
    """Write a trace record (not a timeline event), e.g. what was spoken or gathered."""

    kind: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    """Answer the call if it is still ringing."""


@dataclass(frozen=True)
class OpenStream:
    """Open the stream ``step`` describes, with this id and name; report it closing."""

    step: StartStream
    stream_id: str
    name: str


@dataclass(frozen=True)
class RejectStream:
    """Do not open the stream ``step`` describes: send mediaStreamRejected (docs/bandwidth.md §1.9).

    ``cause`` is ``duplicate`` (``original`` names the open stream with that name) or
    ``track-limit``; ``detail`` is the webhook's ``errorMessage``.
    """

    step: StartStream
    stream_id: str
    name: str
    cause: str
    detail: str
    original: str | None = None


@dataclass(frozen=True)
class CloseStream:
    """Stop the named stream: ``stop``, then close the socket."""

    name: str


@dataclass(frozen=True)
class SetTimer:
    """Send :class:`TimerFired` at ``at`` unless another event comes first (replaces any)."""

    at: float


WebhookEvent = Literal["redirect", "gather", "transferComplete"]


@dataclass(frozen=True)
class SendWebhook:
    """Send a webhook whose answer is BXML (``method``, ``fallback``, the verb's ``tag``)."""

    event: WebhookEvent
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    digits: str = ""
    terminating_digit: str = ""
    method: str = "POST"
    fallback: Fallback | None = None
    tag: str | None = None


def webhook_for(
    event: WebhookEvent,
    src: Redirect | Gather | Redirected | Transfer,
    digits: str = "",
    terminator: str = "",
) -> SendWebhook:
    """The webhook a ``<Redirect>``, ``<Gather>``, API redirect or ``<Transfer>`` asks for."""
    return SendWebhook(
        event,
        src.url or "",
        src.username,
        src.password,
        digits,
        terminator,
        method=src.method,
        fallback=src.fallback,
        tag=src.tag,
    )


@dataclass(frozen=True)
class SetTag:
    """Set the call's tag (``<Tag>``); every later webhook carries it, ``""`` clears it."""

    value: str


@dataclass(frozen=True)
class HangUp:
    """End the call with this disconnect cause (if it is still up)."""

    cause: str
    message: str | None = None


@dataclass(frozen=True)
class TransferCall:
    """Hand the call to the ``<Transfer>`` targets."""

    step: Transfer


@dataclass(frozen=True)
class EndTransfer:
    """Hang up the transfer's B-leg: the A-leg was given other BXML while bridged."""


@dataclass(frozen=True)
class ReportOrphanedLeg:
    """Report the ``orphaned-leg`` violation with this detail."""

    detail: str


@dataclass(frozen=True)
class Done:
    """Execution is over; nothing more will be asked."""


Command = (
    VerbStarted
    | Note
    | Trace
    | Answer
    | OpenStream
    | RejectStream
    | CloseStream
    | SetTimer
    | SendWebhook
    | GatherEnded
    | SendDtmf
    | SetTag
    | HangUp
    | TransferCall
    | EndTransfer
    | ReportOrphanedLeg
    | FetchAudio
    | PlayVerbAudio
    | Done
)
