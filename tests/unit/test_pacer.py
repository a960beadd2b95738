"""The shared pacer runs each stream's tick at its deadline, in order, and never stalls."""

from __future__ import annotations

import asyncio
import time

import pytest

from simulator.call.pacer import Pacer, timerfd_available


async def ticked(done: asyncio.Event, what: str) -> None:
    """Wait for the ticks to be done; fail, naming them, if the pacer stalls (5 s)."""
    try:
        await asyncio.wait_for(done.wait(), 5)
    except TimeoutError:
        pytest.fail(f"the pacer stalled: {what} did not all run")


@pytest.fixture(params=["timerfd", "loop"])
def timer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both timers: Linux timerfd and the portable call_at fallback."""
    if request.param == "timerfd" and not timerfd_available():
        pytest.skip("no timerfd on this platform")
    monkeypatch.setenv("BWSIM_PACER", request.param)
    return str(request.param)


async def test_ticks_run_in_deadline_order_and_reschedule(timer: str) -> None:
    """Three streams, three ticks each: every tick runs once, never before its deadline."""
    pacer = Pacer.for_loop()
    assert pacer.kind == timer
    ran: list[tuple[str, int, float, float]] = []
    done = asyncio.Event()
    start = time.monotonic() + 0.005

    def stream(name: str, offset: float) -> None:
        count = 0

        def tick(due: float) -> float | None:
            nonlocal count
            ran.append((name, count, due, time.monotonic()))
            count += 1
            if count == 3:
                if len(ran) == 9:
                    done.set()
                return None
            return due + 0.004

        pacer.add(start + offset, tick)

    stream("a", 0.002)
    stream("b", 0.0)
    stream("c", 0.001)
    await ticked(done, "three streams' ticks")
    assert [due for _, _, due, _ in ran] == sorted(due for _, _, due, _ in ran)
    assert [(n, k) for n, k, _, _ in ran][:3] == [("b", 0), ("c", 0), ("a", 0)]
    # Never more than the documented slack early (lateness is not asserted: shared CI).
    assert all(at >= due - 0.0002 for _, _, due, at in ran)
    assert len(pacer) == 0


async def test_a_failing_tick_does_not_stop_the_others(timer: str) -> None:
    """One stream's tick raising is dropped; the other stream keeps its clock."""
    pacer = Pacer.for_loop()
    seen: list[int] = []
    done = asyncio.Event()

    def bad(due: float) -> float | None:
        raise RuntimeError("boom")

    def good(due: float) -> float | None:
        seen.append(1)
        if len(seen) == 3:
            done.set()
            return None
        return due + 0.002

    now = time.monotonic()
    pacer.add(now, bad)
    pacer.add(now, good)
    await ticked(done, "the good stream's three ticks")
    assert len(seen) == 3


async def test_past_deadlines_run_at_once() -> None:
    """A deadline already gone (a stream behind its schedule) runs on the next wake-up."""
    pacer = Pacer.for_loop()
    done = asyncio.Event()

    def tick(due: float) -> float | None:
        done.set()
        return None

    pacer.add(time.monotonic() - 1.0, tick)
    await ticked(done, "the past-deadline tick")


async def test_a_tick_that_adds_an_earlier_stream_keeps_both_clocks(timer: str) -> None:
    """A stream added from inside a tick, due before the next one, runs; so does the ticker."""
    pacer = Pacer.for_loop()
    ran: list[str] = []
    done = asyncio.Event()

    def added(due: float) -> float | None:
        ran.append("added")
        return None

    def ticker(due: float) -> float | None:
        ran.append("ticker")
        if ran.count("ticker") == 1:
            pacer.add(due - 0.5, added)  # already due: ahead of the ticker's own entry
            return due + 0.002
        done.set()
        return None

    pacer.add(time.monotonic(), ticker)
    await ticked(done, "the ticker's second tick")
    assert ran == ["ticker", "added", "ticker"]
    assert len(pacer) == 0
