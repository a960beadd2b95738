"""The two locks that let checks run side by side without reading each other's evidence.

- :class:`WebhookGate`: every webhook the audit sends holds it shared; a check that needs
  to know which webhook the bot saw last (``spoof.interleaved_webhooks``) holds it
  exclusively, so no other check's webhook lands in its window. Writer-preferring: once
  an exclusive holder waits, new shared holders queue behind it.
- :class:`CallSlots`: at most ``n`` simulated calls stream real-time media at once, so
  the bot's CPU (and with it every latency budget) is not starved.

Acquire slots before the gate: a check holding the gate never waits for a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator

__all__ = ["CallSlots", "WebhookGate"]


class WebhookGate:
    """A readers-writer lock over "sending a webhook to the bot"."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold the gate alongside other webhooks (never inside an exclusive window)."""
        async with self._cond:
            await self._cond.wait_for(lambda: not self._exclusive and not self._waiting_exclusive)
            self._shared += 1
        try:
            yield
        finally:
            async with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the gate alone: no other check's webhook reaches the bot meanwhile."""
        async with self._cond:
            self._waiting_exclusive += 1
            try:
                await self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class CallSlots:
    """At most ``capacity`` concurrent media calls; a check may take several at once.

    Waiters are served by ``priority`` (lower first), then in arrival order, so the calls
    whose latency is measured start before the bulk of the spoofing calls.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._cond = asyncio.Condition()
        self._used = 0
        self._queue: list[tuple[int, int]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def take(self, count: int = 1, *, priority: int = 1) -> AsyncIterator[None]:
        """Hold ``count`` slots (capped at the capacity) for the duration of the block."""
        count = min(count, self.capacity)
        ticket = (priority, next(self._arrivals))
        async with self._cond:
            heapq.heappush(self._queue, ticket)
            try:
                await self._cond.wait_for(
                    lambda: self._queue[0] == ticket and self._used + count <= self.capacity
                )
            finally:
                self._queue.remove(ticket)
                heapq.heapify(self._queue)
                self._cond.notify_all()
            self._used += count
        try:
            yield
        finally:
            async with self._cond:
                self._used -= count
                self._cond.notify_all()
