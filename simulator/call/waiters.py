"""Waiting on a call's timeline: a caller script's "wait until the bot does X"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.call.live import CallEnded
from simulator.call.recorder import CallRecorder, TimelineEvent
from simulator.errors import CallTimeout

__all__ = ["LATE_KINDS", "TimelineWaiters"]

LATE_KINDS = frozenset({"api-request", "hangup-request", "call-ended", "violation", "note"})
"""Timeline events that can still happen once a call's streams have closed."""

_Accept = Callable[[TimelineEvent], bool]


class TimelineWaiters:
    """The waits pending on one recorder's timeline, resolved as its events are recorded."""

    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder
        self._waiters: list[tuple[str, asyncio.Future[TimelineEvent], _Accept]] = []
        self._settled = False
        recorder.subscribe(self._resolve)

    def _resolve(self, event: TimelineEvent) -> None:
        for waiter in list(self._waiters):
            kind, future, accept = waiter
            if kind == event.kind and not future.done() and accept(event):
                future.set_result(event)
                self._waiters.remove(waiter)

    def settle(self) -> None:
        """The call is over and its streams are closed: fail waits that can no longer succeed."""
        self._settled = True
        for kind, future, _ in self._waiters:
            if kind not in LATE_KINDS and not future.done():
                future.set_exception(CallEnded(f"the call ended before {kind}"))
        self._waiters = [w for w in self._waiters if not w[1].done()]

    async def wait_for(
        self,
        kind: str,
        *,
        timeout_ms: float,
        after_ms: float | None = None,
        where: _Accept | None = None,
    ) -> TimelineEvent:
        """See :meth:`~simulator.call.live.LiveCall.wait_for`; ``kind`` is a timeline kind.

        Names as users write them (``bot_speech_start``) are turned into timeline kinds,
        and unknown ones refused, by :func:`~simulator.call.live.timeline_kind` first.
        """

        def accept(event: TimelineEvent) -> bool:
            late_enough = after_ms is None or event.at_ms >= after_ms
            return late_enough and (where is None or where(event))

        for event in self.recorder.timeline:
            if event.kind == kind and accept(event):
                return event
        if self._settled and kind not in LATE_KINDS:
            raise CallEnded(f"the call had ended before {kind}")
        future: asyncio.Future[TimelineEvent] = asyncio.get_running_loop().create_future()
        self._waiters.append((kind, future, accept))
        try:
            return await asyncio.wait_for(future, timeout_ms / 1000)
        except TimeoutError:
            raise CallTimeout(kind, timeout_ms) from None
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not future]
