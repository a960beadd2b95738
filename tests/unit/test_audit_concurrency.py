"""The webhook gate and the call slots keep concurrent checks out of each other's way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.audit.concurrency import CallSlots, WebhookGate


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (no clock involved)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_an_exclusive_holder_shuts_out_new_webhooks_until_it_leaves() -> None:
    """While a check holds the gate alone, another check's webhook waits."""
    gate = WebhookGate()
    order: list[str] = []
    entered, leave = asyncio.Event(), asyncio.Event()

    async def interleaving_check() -> None:
        async with gate.exclusive():
            entered.set()
            await leave.wait()
            order.append("exclusive done")

    async def other_webhook() -> None:
        await entered.wait()
        async with gate.shared():
            order.append("shared")

    tasks = [asyncio.create_task(interleaving_check()), asyncio.create_task(other_webhook())]
    await until(entered.is_set)
    for _ in range(20):
        await asyncio.sleep(0)  # the shared holder had every chance to get in
    assert order == []
    leave.set()
    await asyncio.gather(*tasks)
    assert order == ["exclusive done", "shared"]


async def test_a_waiting_exclusive_holder_goes_before_later_shared_ones() -> None:
    """Writer preference: once an exclusive holder waits, new webhooks queue behind it."""
    gate = WebhookGate()
    order: list[str] = []
    first_in, release = asyncio.Event(), asyncio.Event()

    async def long_webhook() -> None:
        async with gate.shared():
            first_in.set()
            await release.wait()
        order.append("first shared out")

    async def exclusive() -> None:
        async with gate.exclusive():
            order.append("exclusive")

    async def late_webhook() -> None:
        async with gate.shared():
            order.append("late shared")

    first = asyncio.create_task(long_webhook())
    await until(first_in.is_set)
    second = asyncio.create_task(exclusive())
    await until(lambda: gate._waiting_exclusive == 1)
    third = asyncio.create_task(late_webhook())
    release.set()
    await asyncio.gather(first, second, third)
    assert order == ["first shared out", "exclusive", "late shared"]


async def test_call_slots_cap_concurrency_and_serve_priority_first() -> None:
    """Never more than the capacity at once; a waiting priority-0 call goes first."""
    slots = CallSlots(1)
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def call(name: str, priority: int, hold: bool = False) -> None:
        async with slots.take(priority=priority):
            order.append(name)
            if hold:
                holding.set()
                await release.wait()

    first = asyncio.create_task(call("first", 1, hold=True))
    await until(holding.is_set)
    bulk = asyncio.create_task(call("bulk", 2))
    await until(lambda: len(slots._queue) == 1)
    urgent = asyncio.create_task(call("urgent", 0))
    await until(lambda: len(slots._queue) == 2)
    release.set()
    await asyncio.gather(first, bulk, urgent)
    assert order == ["first", "urgent", "bulk"]
