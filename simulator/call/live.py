"""The caller's side of a call in progress: what a caller script can do and wait for."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
from collections.abc import Awaitable, Callable
from typing import Protocol

from simulator.call.recorder import EVENT_KINDS, CallClock, CallRecorder, TimelineEvent
from simulator.call.stream import StreamOutcome
from simulator.errors import CallTimeout
from simulator.protocol.codec import Pcm
from simulator.protocol.gather import check_digits
from simulator.protocol.media import CallerSource

__all__ = [
    "DTMF_GAP_MS",
    "EVENT_NAMES",
    "CallControl",
    "CallEnded",
    "Caller",
    "LiveCall",
    "timeline_kind",
]

DTMF_GAP_MS = 200.0
"""Time from one key press to the next when a caller presses several keys (``gap_ms``)."""

EVENT_NAMES: dict[str, str] = {kind.replace("-", "_"): kind for kind in sorted(EVENT_KINDS)}
"""The events a caller script can wait for, spelled as in scenario files
(``bot_speech_start``), and the timeline kind each one is (``bot-speech-start``)."""


def timeline_kind(name: str) -> str:
    """The timeline kind of the event ``name``; an unknown name raises ``ValueError``.

    Events are spelled as in scenario files (``bot_speech_start``); the timeline's own
    spelling (``bot-speech-start``, as reports print it) is accepted as well. A name that
    is neither fails at once, with the closest event suggested, instead of waiting for an
    event that can never come.
    """
    if name in EVENT_NAMES:
        return EVENT_NAMES[name]
    if name in EVENT_KINDS:
        return name
    if name in ("call_start", "call-start"):
        msg = "call_start is time zero (call.ms() counts from it), not an event to wait for"
        raise ValueError(msg)
    close = difflib.get_close_matches(str(name).replace("-", "_"), list(EVENT_NAMES), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    msg = f"unknown event {name!r}: {hint}events are {', '.join(EVENT_NAMES)}"
    raise ValueError(msg)


class CallEnded(Exception):
    """The call ended while the caller script was waiting for something else."""


class CallControl(Protocol):
    """What :class:`LiveCall` needs from the session that runs the call."""

    @property
    def call_id(self) -> str:
        """The call's id."""

    @property
    def account_id(self) -> str:
        """The account the call belongs to."""

    @property
    def ended(self) -> asyncio.Event:
        """Set once the call has ended (or left the bot by a transfer)."""

    @property
    def recorder(self) -> CallRecorder:
        """The call's recorder."""

    @property
    def clock(self) -> CallClock:
        """The call's clock."""

    @property
    def caller(self) -> CallerSource:
        """The caller's audio source."""

    async def wait_for(
        self,
        kind: str,
        *,
        timeout_ms: float,
        after_ms: float | None = None,
        where: Callable[[TimelineEvent], bool] | None = None,
    ) -> TimelineEvent:
        """Wait for a timeline event (see :meth:`LiveCall.wait_for`)."""

    def caller_hangup(self) -> None:
        """The caller hangs up."""

    def press_digit(self, digit: str) -> None:
        """The caller presses one DTMF key."""

    def drop_streams(self) -> None:
        """Every media connection dies."""

    async def replay_stream(self, hold_ms: float) -> StreamOutcome:
        """Open a second socket with the first stream's URL."""


Caller = Callable[["LiveCall"], Awaitable[None]]


class LiveCall:
    """The caller's handle on a call in progress: speak, wait for events, hang up."""

    def __init__(self, session: CallControl) -> None:
        self._session = session

    @property
    def call_id(self) -> str:
        """The call's id (as the bot got it from the webhook)."""
        return self._session.call_id

    @property
    def account_id(self) -> str:
        """The account the call belongs to."""
        return self._session.account_id

    @property
    def ended(self) -> bool:
        """Whether the call has ended (or left the bot by a transfer)."""
        return self._session.ended.is_set()

    @property
    def recorder(self) -> CallRecorder:
        """The call's recorder (timeline, trace, audio)."""
        return self._session.recorder

    def ms(self) -> float:
        """Milliseconds since the call began."""
        return self._session.clock.ms()

    async def say(self, samples: Pcm, label: str = "audio", *, wait: bool = True) -> None:
        """Speak 8 kHz audio into the call; with ``wait``, return once it has all been sent."""
        source = self._session.caller
        source.say(samples, label)
        if not wait:
            return
        budget_s = len(samples) / 8000 + 5.0
        drained = asyncio.Event()
        source.on_drained = drained.set
        ended = asyncio.ensure_future(self._session.ended.wait())
        spoken = asyncio.ensure_future(drained.wait())
        try:
            done, _ = await asyncio.wait(
                [ended, spoken], timeout=budget_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            spoken.cancel()
            source.on_drained = None
        if self.ended:
            raise CallEnded
        if not done:
            source.cancel()
            what = f"caller audio {label!r} to be sent (is a stream open?)"
            raise CallTimeout(what, budget_s * 1000)

    def stop_talking(self) -> None:
        """Drop what the caller has queued but not said yet."""
        self._session.caller.cancel()

    async def pause(self, ms: float) -> None:
        """Stay on the line (silent) for ``ms``; raises :class:`CallEnded` if it ends first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._session.ended.wait(), ms / 1000)
        if self.ended:
            raise CallEnded

    async def wait_for(
        self,
        kind: str,
        *,
        timeout_ms: float,
        after_ms: float | None = None,
        where: Callable[[TimelineEvent], bool] | None = None,
    ) -> TimelineEvent:
        """Wait for the event ``kind`` (later than ``after_ms`` if given).

        ``kind`` is spelled as in scenario files (``"bot_speech_start"``; see
        :data:`EVENT_NAMES`); an unknown name raises ``ValueError`` at once, naming the
        closest event. Raises :class:`~simulator.errors.CallTimeout` after ``timeout_ms``,
        and :class:`CallEnded` once the call is over and its streams are closed (except
        for events that can come later: API requests, the call's end, violations).
        """
        return await self._session.wait_for(
            timeline_kind(kind), timeout_ms=timeout_ms, after_ms=after_ms, where=where
        )

    async def press(self, digits: str, gap_ms: float = DTMF_GAP_MS) -> None:
        """Press DTMF keys (``"1234#"``), one every ``gap_ms``; returns after the last.

        Each key is a ``dtmf`` timeline event. A running ``<Gather>`` collects it, else
        ``<StartGather>`` sends it to the bot as a ``dtmf`` webhook; a key nothing
        collects is lost, as on a phone. Raises ``ValueError`` for a character that is
        not a DTMF key, and :class:`CallEnded` if the call ends before the last key.
        """
        check_digits(digits)
        for n, digit in enumerate(digits):
            if n:
                await self.pause(gap_ms)
            if self.ended:
                raise CallEnded
            self._session.press_digit(digit)

    def hangup(self) -> None:
        """The caller hangs up: ``stop`` and close on every stream, call disconnected."""
        self._session.caller_hangup()

    def drop_streams(self) -> None:
        """Every media connection dies (no ``stop``, no close frame); the call stays up.

        What a network failure looks like to the bot. Under ``<Pause>`` the bot then has
        ``orphan_grace_s`` to hang the call up before it is reported as an orphaned leg.
        """
        self._session.drop_streams()

    async def replay_stream(self, hold_ms: float = 1500.0) -> StreamOutcome:
        """Open a second socket with this call's stream URL (a replayed one-time token).

        A sound bot refuses it (HTTP 403 on the upgrade through uvicorn, or close 1008).
        The attempt is stream ``replay`` on the timeline; it is stopped after ``hold_ms``.
        """
        return await self._session.replay_stream(hold_ms)
