"""reap: a task bwsim stops is reaped, and a cancellation of the reaper is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from simulator.call.tasks import reap


async def _stubborn(started: asyncio.Event, release: asyncio.Event) -> None:
    """A task that, once cancelled, still needs a moment to end (it cleans up)."""
    started.set()
    try:
        await asyncio.Event().wait()
    finally:
        await release.wait()


async def test_a_cancel_of_the_reaper_while_it_waits_is_not_swallowed() -> None:
    """Ctrl-C landing while a task is reaped stops the reaper too: the old suppress() did not."""
    started, release, reaping = asyncio.Event(), asyncio.Event(), asyncio.Event()
    child = asyncio.ensure_future(_stubborn(started, release))
    await started.wait()

    async def reaper() -> str:
        reaping.set()
        await reap(child)
        return "carried on"

    outer = asyncio.ensure_future(reaper())
    await reaping.wait()  # set just before reap(): the reaper now waits inside it
    outer.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert child.cancelled()


async def test_reap_cancels_a_running_task_and_raises_its_own_error() -> None:
    """A running task is cancelled and waited for; one that failed raises its error here."""
    running = asyncio.ensure_future(asyncio.Event().wait())
    await reap(running)
    assert running.cancelled()

    async def fails() -> None:
        raise ValueError("boom")

    failed = asyncio.ensure_future(fails())
    await asyncio.wait([failed])
    with pytest.raises(ValueError, match="boom"):
        await reap(failed)
