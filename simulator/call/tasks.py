"""Stopping a task bwsim started, without swallowing a cancellation of its own.

``task.cancel()`` then ``with suppress(CancelledError): await task`` is a trap: when the
task doing the awaiting is itself cancelled at that moment (Ctrl-C, SIGTERM), the
``CancelledError`` it receives is its own, and the ``suppress`` swallows it, so an
interrupted run carries on to its end. :func:`reap` waits with :func:`asyncio.wait`,
which never raises the awaited task's ``CancelledError`` but lets the waiter's own
cancellation through.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["reap"]


async def reap(task: asyncio.Future[Any], grace_s: float | None = None) -> None:
    """Cancel ``task`` (after ``grace_s`` seconds, if given) and wait until it has ended.

    Its own exception, other than the cancellation, is raised here, as awaiting it would.
    """
    if grace_s is not None:
        await asyncio.wait([task], timeout=grace_s)
    if not task.done():
        task.cancel()
        await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
