"""A :class:`~simulator.runner.harness.Harness` on its own thread and event loop.

The pytest plugin keeps one simulator (fake Bandwidth plus the bot) for a whole test
session. Running it on a thread of its own makes it independent of the event loop each
test gets from pytest-asyncio (any loop scope works, and synchronous tests too), and
keeps the media clock away from whatever the test does meanwhile. Every method hands
work to that loop and waits with a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.outbound import OutboundTrigger
from simulator.call.result import CallResult
from simulator.errors import TargetError
from simulator.protocol.create_call import CalleePlan
from simulator.runner.harness import Harness
from simulator.runner.targets import Target

__all__ = ["BackgroundHarness"]

T = TypeVar("T")
STOP_TIMEOUT_S = 30.0


class BackgroundHarness:
    """Start with :meth:`start`, place calls from any thread or loop, :meth:`stop` at the end."""

    def __init__(
        self,
        target: Target | None,
        *,
        bot_env: dict[str, str] | None = None,
        startup_timeout_s: float = 60.0,
        allow_hosts: Sequence[str] = (),
    ) -> None:
        self.target = target
        self.allow_hosts = tuple(allow_hosts)
        self.bot_env = dict(bot_env or {})
        self.startup_timeout_s = startup_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._harness: Harness | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="bwsim-harness", daemon=True)

    @property
    def harness(self) -> Harness:
        """The running harness (its fake, credentials and bot)."""
        if self._harness is None:
            raise RuntimeError("the background harness is not running: call start() first")
        return self._harness

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                async with Harness(
                    self.target,
                    bot_env=self.bot_env,
                    startup_timeout_s=self.startup_timeout_s,
                    allow_hosts=self.allow_hosts,
                ) as h:
                    self._harness = h
                    self._ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
                self._error = exc
            finally:
                self._harness = None
                self._ready.set()

        asyncio.run(run())

    def start(self) -> BackgroundHarness:
        """Start the fake and the bot; raises what stopped them (e.g. TargetError)."""
        self._thread.start()
        if not self._ready.wait(self.startup_timeout_s + 10):
            raise TargetError(
                f"bwsim did not start within {self.startup_timeout_s + 10:.0f} s "
                f"({self.target.description if self.target else 'no bot'})"
            )
        if self._error is not None:
            raise self._error
        return self

    def submit(
        self, factory: Callable[[Harness], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Run ``factory(harness)`` on the harness's loop; returns a thread-safe future."""
        if self._loop is None or self._harness is None:
            raise RuntimeError("the background harness is not running")
        return asyncio.run_coroutine_threadsafe(factory(self._harness), self._loop)

    def run(self, factory: Callable[[Harness], Awaitable[T]], timeout_s: float) -> T:
        """Run ``factory(harness)`` and wait for its result (from a thread with no loop)."""

        async def go(h: Harness) -> T:
            return await factory(h)

        return self.submit(go).result(timeout_s)

    async def place_call(
        self, caller: Caller | None, options: CallOptions, *, timeout_s: float | None = None
    ) -> CallResult:
        """Place a call on the harness's loop and await it from the caller's loop."""

        async def go(h: Harness) -> CallResult:
            return await h.place_call(caller, options=options)

        limit = timeout_s if timeout_s is not None else options.max_call_s + 30
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(go)), limit)

    async def place_outbound_call(
        self,
        trigger: OutboundTrigger,
        callee: CalleePlan,
        caller: Caller | None,
        options: CallOptions,
    ) -> CallResult:
        """Make the bot dial out on the harness's loop and await the call from the caller's."""

        async def go(h: Harness) -> CallResult:
            return await h.place_outbound_call(trigger, callee, caller, options=options)

        ring_s = 300.0 if callee.ring_ms is None else callee.ring_ms / 1000  # callTimeout ≤ 300 s
        limit = trigger.create_within_s + ring_s + options.max_call_s + 30
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(go)), limit)

    def reset(self) -> None:
        """Forget calls, requests, violations and faults (a cheap per-test reset)."""

        async def go(h: Harness) -> None:
            h.fake.reset()

        self.submit(go).result(10)

    def stop(self) -> None:
        """Stop the bot and the fake, and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT_S)
