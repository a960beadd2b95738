"""Counting what a per-call bound did not keep: how many, and when the first one came.

A bounded record (a call's timeline, the fake's journal, a call's violations) keeps the
first records of each sort and only counts the rest. The count tells a reader how long a
flood went on; the time of the first record not kept tells a judge from when on the record
is incomplete, so a question about a later window is not answered from a partial record.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["NotKept"]

K = TypeVar("K", bound=Hashable)


class NotKept(Generic[K]):
    """Per key: records counted but not kept, and the time of the first of them.

    Times are whatever clock the owner records on (call-clock milliseconds for the
    timeline, ``time.monotonic()`` for the journal); this class only compares them.
    """

    def __init__(self) -> None:
        self.counts: dict[K, int] = {}
        self.first_at: dict[K, float] = {}

    def add(self, key: K, at: float) -> bool:
        """Count one record of ``key`` not kept at ``at``; True for the first of its key."""
        first = key not in self.counts
        self.counts[key] = self.counts.get(key, 0) + 1
        self.first_at[key] = min(at, self.first_at.get(key, at))
        return first

    def clear(self) -> None:
        """Forget every count."""
        self.counts.clear()
        self.first_at.clear()

    def __bool__(self) -> bool:
        return bool(self.counts)
