"""One scheduler for every media stream on an event loop, woken at absolute deadlines.

Why not one task per stream sleeping with :func:`asyncio.sleep`: the event loop waits in
whole milliseconds (its selector's timeout is rounded up to 1 ms), so every frame went
out up to ~1-2 ms after its slot even with one stream, and at a few hundred streams the
tasks' wake-ups, each through the loop's ready queue, cost more than the frames
themselves. Here a single :class:`Pacer` per loop keeps the next deadline of every
stream in a heap and is woken by a Linux ``timerfd`` armed at the earliest one
(``TFD_TIMER_ABSTIME`` on ``CLOCK_MONOTONIC``, the clock :func:`time.monotonic` reads):
the kernel wakes the loop's ``epoll`` within tens of microseconds of the deadline. It
then runs every tick that is due, synchronously, and re-arms. Elsewhere (or with
``BWSIM_PACER=loop``) it falls back to :meth:`asyncio.loop.call_at`, with the loop's
millisecond precision.

A tick is a plain callback ``tick(due) -> next_due | None`` (None: the stream is done).
It must not block: the stream driver writes its frame, built and masked in one step, into
the transport's buffer (:mod:`simulator.call.media_socket`), never awaiting.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import heapq
import itertools
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable

__all__ = [
    "EARLY_SLACK_S",
    "FULL_GC_EVERY",
    "Pacer",
    "Tick",
    "quiet_gc",
    "request_realtime",
    "timerfd_available",
]

Tick = Callable[[float], float | None]
"""Called at (or just after) ``due``; returns the next deadline, or None to stop."""

EARLY_SLACK_S = 0.0001
"""A deadline this close when the pacer is already awake runs at once (at most 0.1 ms
early) rather than costing another wake-up: at hundreds of streams, deadlines are tens
of microseconds apart."""

_log = logging.getLogger(__name__)

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def timerfd_available() -> bool:
    """Whether this platform has ``timerfd`` and it is not disabled (``BWSIM_PACER=loop``)."""
    return _LIBC is not None and os.environ.get("BWSIM_PACER", "timerfd") != "loop"


class _TimerFd:
    """A ``timerfd`` the loop watches: armed at an absolute ``CLOCK_MONOTONIC`` time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]) -> None:
        assert _LIBC is not None
        self._libc = _LIBC
        fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd = fd
        self._spec = _Itimerspec()
        self._loop = loop
        self._fire = fire
        loop.add_reader(fd, self._ready)

    def _ready(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return  # re-armed meanwhile: not expired after all
        self._fire()

    def arm(self, deadline: float) -> None:
        sec = int(deadline)
        nsec = int((deadline - sec) * 1e9)
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = sec, max(nsec, 1)  # (0, 0) would disarm it
        if self._libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None):
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        os.close(self.fd)


class _LoopTimer:
    """The portable fallback: :meth:`~asyncio.loop.call_at` (millisecond precision)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._handle: asyncio.TimerHandle | None = None
        # The loop's clock is time.monotonic() for asyncio and uvloop alike; convert anyway.
        self._skew = loop.time() - time.monotonic()

    def arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(deadline + self._skew, self._fire)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


FULL_GC_EVERY = 1000
"""Young (generation 1) collections between two full ones once :func:`quiet_gc` ran
(Python's default is 10)."""


def quiet_gc() -> None:
    """Keep the cyclic collector's full collections out of the way of real-time streams.

    Measured on this kind of machine: with the modules a run imports (FastAPI, pydantic,
    websockets, uvloop, numpy) a full collection takes 30-70 ms, and with 200 streams'
    recordings 25-45 ms more; each one stops every stream's clock for that long (the
    benchmark's max deviation was exactly that). So: collect once, :func:`gc.freeze`
    what is alive (the long-lived modules, the harness, the bot's handles), and run a
    full collection only every :data:`FULL_GC_EVERY` young collections instead of 10.
    Young collections (well under 1 ms) still reclaim short-lived cycles; long-lived
    garbage cycles wait longer, which costs memory, not time.

    Process-wide, so the library never does it on its own: the commands call it once the
    harness and the bot are up (``bwsim call``, ``bwsim load``, the benchmarks).
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_EVERY)


def request_realtime(priority: int = 10) -> bool:
    """Run this thread under ``SCHED_FIFO`` if allowed (root or CAP_SYS_NICE); True if so.

    On a machine other work keeps busy, a normal process woken by its timer can wait
    milliseconds to seconds for a CPU: measured at 200 streams with another engineer's
    test suite running, receive-side p99 2140 ms without it and 0.30 ms with it. Child
    processes (the bot under test) do not inherit it (``SCHED_RESET_ON_FORK``). Linux's
    real-time throttling still leaves other tasks 5% of each CPU; a saturated simulator
    is then paused for up to 50 ms a second, so use it below saturation only.
    """
    if not hasattr(os, "sched_setscheduler"):
        return False
    policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except OSError:
        return False
    return True


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


class Pacer:
    """Run each registered :data:`Tick` at its absolute ``time.monotonic()`` deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Tick]] = []
        self._order = itertools.count()
        self._timer: _TimerFd | _LoopTimer | None = None
        self._armed_at: float | None = None
        self._running = False
        self.wakeups = 0
        """How many times the timer woke the pacer (for benchmarks)."""
        self.ticks = 0
        """How many ticks ran."""

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> Pacer:
        """The pacer of ``loop`` (the running loop by default), created on first use."""
        loop = loop or asyncio.get_running_loop()
        pacer = _PACERS.get(loop)
        if pacer is None:
            pacer = _PACERS[loop] = cls(loop)
        return pacer

    @property
    def kind(self) -> str:
        """``timerfd`` or ``loop``: which timer wakes the pacer."""
        return "timerfd" if timerfd_available() else "loop"

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, due: float, tick: Tick) -> None:
        """Run ``tick`` at ``due`` (``time.monotonic()`` seconds), then at what it returns."""
        heapq.heappush(self._heap, (due, next(self._order), tick))
        if not self._running:
            self._rearm()

    def _timer_for_loop(self) -> _TimerFd | _LoopTimer:
        if self._timer is None:
            if timerfd_available():
                try:
                    self._timer = _TimerFd(self._loop, self._fire)
                except (OSError, NotImplementedError):
                    self._timer = _LoopTimer(self._loop, self._fire)
            else:
                self._timer = _LoopTimer(self._loop, self._fire)
        return self._timer

    def _rearm(self) -> None:
        if not self._heap:
            # Idle: give the fd back, so a loop that ends leaks nothing.
            if self._timer is not None:
                self._timer.close()
                self._timer = None
            self._armed_at = None
            return
        due = self._heap[0][0]
        if self._armed_at != due:
            self._timer_for_loop().arm(due)
            self._armed_at = due

    def _fire(self) -> None:
        self.wakeups += 1
        self._armed_at = None
        self._running = True
        heap = self._heap
        ran = 0
        try:
            now = time.monotonic()
            while heap:
                entry = heap[0]
                due = entry[0]
                if due > now + EARLY_SLACK_S:
                    now = time.monotonic()  # the ticks took time: more may be due now
                    if due > now + EARLY_SLACK_S:
                        break
                ran += 1
                try:
                    following = entry[2](due)
                except Exception:  # noqa: BLE001
                    # A safety net (the stream driver hands its own errors to its task):
                    # one stream's bug must not stop every other stream's clock.
                    _log.exception("a paced stream's tick failed; it is dropped")
                    following = None
                if heap and heap[0] is entry:
                    # One sift instead of a pop and a push (the common case, per frame).
                    if following is None:
                        heapq.heappop(heap)
                    else:
                        heapq.heapreplace(heap, (following, entry[1], entry[2]))
                else:  # the tick added a stream with an earlier deadline: find its own entry
                    heap.remove(entry)
                    heapq.heapify(heap)
                    if following is not None:
                        heapq.heappush(heap, (following, entry[1], entry[2]))
        finally:
            self.ticks += ran
            self._running = False
            self._rearm()
