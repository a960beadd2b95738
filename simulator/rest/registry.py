"""Accounts, OAuth clients and calls: the state both halves of the fake Bandwidth share.

The REST side (``voice_api``) and the call side (webhooks, BXML, media stream) read and
change calls only through :class:`Registry`, so a hang-up through the API and a caller
hanging up are the same transition, seen by both. No I/O happens here: listeners are
called synchronously and the clock is injected, so the state machine is tested in
microseconds (``tests/unit/test_registry.py``).

Lifecycle of a call (``CallPhase``)::

    initiated ──answer──▶ answered ──stream_started──▶ streaming
        │                   │  ▲                         │
        │                   │  └──────stream_ended───────┤
        │                   ▼                            ▼
        └──────────▶ disconnected (cause) ◀──── transferred (A-leg handed on)
                                                      │ ▲
                                       take_back ─────┘ └──── transfer (stream "ends")

While ``transferred`` the call is the transfer's, not the application's: the Voice API
cannot modify it (docs/bandwidth.md §5.5; the Pipecat guide: a hang-up after a transfer
gets 404). When the transfer is over and the application's BXML runs on the A-leg again
(``transferComplete``, or verbs after ``<Transfer>``), it is ``answered`` again.
Under the ``stays`` account (``Call.transfer_stream``) a transfer leaves the phase as it
is. ``disconnected`` is final.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from simulator.protocol.ids import new_account_id, new_application_id, new_call_id, new_stream_id

__all__ = [
    "Account",
    "Answered",
    "BxmlReplaced",
    "Call",
    "CallEvent",
    "CallPhase",
    "Ended",
    "HangupRequested",
    "InvalidTransition",
    "RedirectRequested",
    "Registry",
    "StreamEnded",
    "StreamStarted",
    "TransferRecord",
    "Transferred",
    "new_account_id",
    "new_application_id",
    "new_call_id",
    "new_stream_id",
]


class CallPhase(StrEnum):
    """Where a call is in its life, as the simulator tracks it."""

    INITIATED = "initiated"
    ANSWERED = "answered"
    STREAMING = "streaming"
    TRANSFERRED = "transferred"
    DISCONNECTED = "disconnected"

    @property
    def api_state(self) -> str:
        """The ``state`` Get Call State reports for this phase (docs/bandwidth.md §4.6)."""
        if self is CallPhase.INITIATED:
            return "initiated"
        if self is CallPhase.DISCONNECTED:
            return "disconnected"
        return "answered"


FINAL_PHASES = frozenset({CallPhase.TRANSFERRED, CallPhase.DISCONNECTED})


class InvalidTransition(RuntimeError):
    """A call was asked to move to a phase it cannot reach from where it is."""

    def __init__(self, call_id: str, phase: CallPhase, action: str) -> None:
        self.call_id = call_id
        self.phase = phase
        self.action = action
        super().__init__(f"call {call_id} is {phase.value}: cannot {action}")


@dataclass
class Account:
    """A Bandwidth account and the OAuth client credentials that belong to it."""

    account_id: str
    client_id: str
    client_secret: str
    application_id: str


@dataclass(frozen=True)
class TransferRecord:
    """A ``<Transfer>`` that took the caller away from the bot."""

    targets: tuple[str, ...]
    at: datetime
    b_leg_call_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    over: bool = False
    """Whether the transfer is over (every B-leg has ended)."""


@dataclass
class Call:
    """One simulated call leg and everything that happened to it."""

    call_id: str
    account_id: str
    application_id: str
    from_: str
    to: str
    direction: str
    start_time: datetime
    phase: CallPhase = CallPhase.INITIATED
    answer_time: datetime | None = None
    end_time: datetime | None = None
    disconnect_cause: str | None = None
    error_message: str | None = None
    streams: list[str] = field(default_factory=list)
    open_streams: set[str] = field(default_factory=set)
    transfer: TransferRecord | None = None
    redirects: list[dict[str, Any]] = field(default_factory=list)
    bxml_updates: list[str] = field(default_factory=list)
    parent_call_id: str | None = None
    tag: str | None = None
    transfer_stream: str = "ends"
    """What a transfer does to the call's stream and API control (``ends`` or ``stays``;
    docs/bandwidth.md §5.5)."""

    @property
    def transferring(self) -> bool:
        """Whether a transfer of this call has started and is not over."""
        return self.transfer is not None and not self.transfer.over

    @property
    def active(self) -> bool:
        """Whether the Voice API may still modify this call."""
        return self.phase not in FINAL_PHASES

    def state_object(self) -> dict[str, Any]:
        """Render the call as Bandwidth's ``callState`` object (docs/bandwidth.md §4.6)."""

        def iso(value: datetime | None) -> str | None:
            if value is None:
                return None
            return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

        last = self.end_time or self.answer_time or self.start_time
        return {
            "applicationId": self.application_id,
            "accountId": self.account_id,
            "callId": self.call_id,
            "parentCallId": self.parent_call_id,
            "to": self.to,
            "from": self.from_,
            "direction": self.direction,
            "state": self.phase.api_state,
            "stirShaken": None,
            "identity": None,
            "enqueuedTime": None,
            "startTime": iso(self.start_time),
            "answerTime": iso(self.answer_time),
            "endTime": iso(self.end_time),
            "disconnectCause": self.disconnect_cause,
            "errorMessage": self.error_message,
            "errorId": None,
            "lastUpdate": iso(last),
        }


@dataclass(frozen=True)
class CallEvent:
    """A change to a call that the other half of the simulator may need to act on.

    Each change is its own class below; ``kind`` names it in words (``answered``,
    ``stream-started`` …) for logs and tests.
    """

    kind: ClassVar[str] = ""
    call: Call


@dataclass(frozen=True)
class Answered(CallEvent):
    """The call was answered (running BXML answers an inbound call)."""

    kind: ClassVar[str] = "answered"


@dataclass(frozen=True)
class StreamStarted(CallEvent):
    """A media stream of the call opened."""

    kind: ClassVar[str] = "stream-started"
    stream_id: str


@dataclass(frozen=True)
class StreamEnded(CallEvent):
    """A media stream of the call closed; the call stays up."""

    kind: ClassVar[str] = "stream-ended"
    stream_id: str


@dataclass(frozen=True)
class HangupRequested(CallEvent):
    """The Voice API was asked to complete the call (:class:`Ended` follows)."""

    kind: ClassVar[str] = "hangup-requested"
    source: str


@dataclass(frozen=True)
class RedirectRequested(CallEvent):
    """The Voice API asked for a redirect: the call side fetches and runs the new BXML."""

    kind: ClassVar[str] = "redirect-requested"
    redirect: dict[str, Any]


@dataclass(frozen=True)
class BxmlReplaced(CallEvent):
    """The Voice API replaced the call's BXML (``PUT …/bxml``), as text."""

    kind: ClassVar[str] = "bxml-replaced"
    bxml: str


@dataclass(frozen=True)
class Transferred(CallEvent):
    """The caller was handed to ``targets``: the call has left the bot's control."""

    kind: ClassVar[str] = "transferred"
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Ended(CallEvent):
    """The call ended with a Bandwidth disconnect ``cause``."""

    kind: ClassVar[str] = "ended"
    cause: str


Listener = Callable[[CallEvent], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Every account and call the fake Bandwidth knows about."""

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self.accounts: dict[str, Account] = {}
        self.calls: dict[str, Call] = {}
        self._listeners: list[Listener] = []
        self.new_call_id: Callable[[], str] = new_call_id
        """Mints the id of each new call (``bwsim load --processes`` gives each worker's
        fake ids its router can tell apart)."""

    # -- accounts -------------------------------------------------------------------

    def create_account(
        self,
        account_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> Account:
        """Create an account with one OAuth client credential (generated when omitted)."""
        account = Account(
            account_id=account_id or new_account_id(),
            client_id=client_id or f"bwsim-client-{secrets.token_hex(6)}",
            client_secret=client_secret or secrets.token_urlsafe(24),
            application_id=new_application_id(),
        )
        if account.account_id in self.accounts:
            raise ValueError(f"account {account.account_id} already exists")
        self.accounts[account.account_id] = account
        return account

    def account_for_client(self, client_id: str, client_secret: str) -> Account | None:
        """Return the account whose client credential matches, comparing in constant time."""
        found: Account | None = None
        for account in self.accounts.values():
            id_ok = secrets.compare_digest(account.client_id.encode(), client_id.encode())
            secret_ok = secrets.compare_digest(
                account.client_secret.encode(), client_secret.encode()
            )
            if id_ok and secret_ok:
                found = account
        return found

    # -- listeners ------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every call event; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: CallEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- calls ----------------------------------------------------------------------

    def create_call(
        self,
        account_id: str,
        *,
        from_: str = "+15555550100",
        to: str = "+15555550199",
        direction: str = "inbound",
        call_id: str | None = None,
        parent_call_id: str | None = None,
    ) -> Call:
        """Register a new call in ``account_id`` (the account must exist)."""
        account = self.accounts.get(account_id)
        if account is None:
            raise KeyError(f"no account {account_id!r}: create it with create_account() first")
        call = Call(
            call_id=call_id or self.new_call_id(),
            account_id=account_id,
            application_id=account.application_id,
            from_=from_,
            to=to,
            direction=direction,
            start_time=self._clock(),
            parent_call_id=parent_call_id,
        )
        if call.call_id in self.calls:
            raise ValueError(f"call {call.call_id} already exists")
        self.calls[call.call_id] = call
        return call

    def get(self, call_id: str) -> Call | None:
        """Return the call with this id, or None."""
        return self.calls.get(call_id)

    def find(self, account_id: str, call_id: str) -> Call | None:
        """Return the call only if it belongs to ``account_id`` (what the Voice API sees)."""
        call = self.calls.get(call_id)
        if call is None or call.account_id != account_id:
            return None
        return call

    def _require(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise KeyError(f"no call {call_id!r}")
        return call

    def _require_active(self, call_id: str, action: str) -> Call:
        """The call, which the Voice API may still modify; else ``InvalidTransition``."""
        call = self._require(call_id)
        if not call.active:
            raise InvalidTransition(call_id, call.phase, action)
        return call

    def answer(self, call_id: str) -> Call:
        """Answer an initiated call (running BXML verbs answers an inbound call)."""
        call = self._require(call_id)
        if call.phase is not CallPhase.INITIATED:
            raise InvalidTransition(call_id, call.phase, "answer")
        call.phase = CallPhase.ANSWERED
        call.answer_time = self._clock()
        self._emit(Answered(call))
        return call

    def stream_started(self, call_id: str, stream_id: str) -> Call:
        """Record that a media stream of this call is open."""
        call = self._require(call_id)
        if call.phase not in (CallPhase.ANSWERED, CallPhase.STREAMING):
            raise InvalidTransition(call_id, call.phase, "start a stream")
        call.streams.append(stream_id)
        call.open_streams.add(stream_id)
        call.phase = CallPhase.STREAMING
        self._emit(StreamStarted(call, stream_id))
        return call

    def stream_ended(self, call_id: str, stream_id: str) -> Call:
        """Record that a media stream closed; the call itself stays up."""
        call = self._require(call_id)
        call.open_streams.discard(stream_id)
        if call.phase is CallPhase.STREAMING and not call.open_streams:
            call.phase = CallPhase.ANSWERED
        self._emit(StreamEnded(call, stream_id))
        return call

    def request_hangup(self, call_id: str, *, source: str) -> Call:
        """The Voice API was asked to complete an active call: end it with cause ``hangup``.

        An unanswered call is rejected (inbound) or cancelled (outbound) instead
        (``completed`` rejects or cancels it: docs/bandwidth.md §4.4).
        """
        call = self._require_active(call_id, "hang up")
        cause = "hangup"
        if call.phase is CallPhase.INITIATED:
            cause = "cancel" if call.direction == "outbound" else "rejected"
        self._emit(HangupRequested(call, source))
        return self.end(call_id, cause)

    def request_redirect(self, call_id: str, redirect: dict[str, Any]) -> Call:
        """Record an update-call redirect; the call side fetches and runs the new BXML."""
        call = self._require_active(call_id, "redirect")
        call.redirects.append(redirect)
        self._emit(RedirectRequested(call, redirect))
        return call

    def replace_bxml(self, call_id: str, bxml: str) -> Call:
        """Record a ``PUT …/bxml``; the call side interrupts the running verb and runs it."""
        call = self._require_active(call_id, "replace its BXML")
        call.bxml_updates.append(bxml)
        self._emit(BxmlReplaced(call, bxml))
        return call

    def transfer(
        self, call_id: str, targets: tuple[str, ...], attributes: dict[str, str] | None = None
    ) -> Call:
        """Hand the caller to ``targets``; under ``ends`` the call leaves the bot's control."""
        call = self._require_active(call_id, "transfer")
        call.transfer = TransferRecord(
            targets=targets,
            at=self._clock(),
            b_leg_call_id=self.new_call_id(),
            attributes=dict(attributes or {}),
        )
        if call.transfer_stream == "ends":
            call.phase = CallPhase.TRANSFERRED
        self._emit(Transferred(call, targets))
        return call

    def transfer_ended(self, call_id: str) -> Call:
        """The transfer is over (every B-leg has ended); the call's phase is left as it is."""
        call = self._require(call_id)
        if call.transfer is not None:
            call.transfer = replace(call.transfer, over=True)
        return call

    def take_back(self, call_id: str) -> Call:
        """The application's BXML runs on the call again: a call a transfer held is ``answered``.

        Until then (for instance while the call hangs up because nothing follows
        ``<Transfer>``) the Voice API keeps answering for it as for a transferred call.
        """
        call = self._require(call_id)
        if call.phase is CallPhase.TRANSFERRED:
            call.phase = CallPhase.ANSWERED
        return call

    def end(self, call_id: str, cause: str, error_message: str | None = None) -> Call:
        """End a call with a disconnect ``cause`` (docs/bandwidth.md §2.5); twice is an error."""
        call = self._require(call_id)
        if call.phase is CallPhase.DISCONNECTED:
            raise InvalidTransition(call_id, call.phase, f"end ({cause})")
        call.phase = CallPhase.DISCONNECTED
        call.end_time = self._clock()
        call.disconnect_cause = cause
        call.error_message = error_message
        self._emit(Ended(call, cause))
        return call

    def active_calls(self, account_id: str | None = None) -> list[Call]:
        """Calls the Voice API may still modify, optionally in one account."""
        return [
            c
            for c in self.calls.values()
            if c.active and (account_id is None or c.account_id == account_id)
        ]
