"""One replay end to end: plan the call, place it through a harness, compare.

The harness is given as a function that places a call (``Harness.place_call`` or the
pytest plugin's background harness), so the CLI, scenario files and the plugin replay the
same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from simulator.archive.model import CallArchive
from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.judge.metrics import MetricsConfig
from simulator.replay.caller import replay_caller
from simulator.replay.compare import Comparison, compare
from simulator.replay.facts import facts_from_archive, facts_from_result
from simulator.replay.plan import ReplayPlan

__all__ = ["PlaceCall", "Replay", "replay_archive"]

PlaceCall = Callable[[Caller, CallOptions], Awaitable[CallResult]]
"""Places one call with this caller and these options, and returns its result."""


@dataclass
class Replay:
    """A finished replay: its plan, the call it placed and the comparison."""

    archive: CallArchive
    plan: ReplayPlan
    result: CallResult
    comparison: Comparison

    @property
    def ok(self) -> bool:
        """Nothing required changed (see :class:`~simulator.replay.compare.Comparison`)."""
        return self.comparison.ok

    def ids(self) -> dict[str, dict[str, str]]:
        """Each recorded id and the fresh id the replay used instead."""
        fresh = {
            "accountId": self.result.account_id,
            "applicationId": self.result.application_id,
            "callId": self.result.call_id,
        }
        if self.result.streams:
            fresh["start.streamId"] = self.result.streams[0].stream_id
        return self.plan.id_map(fresh)

    def to_dict(self) -> dict[str, Any]:
        """The comparison, the id map and where the recording came from (``comparison.json``)."""
        data = self.comparison.to_dict()
        data["archive"] = str(self.archive.path) if self.archive.path else None
        data["recorded_at"] = self.archive.recorded_at
        data["timing"] = self.plan.timing
        data["ids"] = self.ids()
        data["turn_schedule"] = [s.describe() for s in self.plan.turns]
        return data


async def replay_archive(
    place: PlaceCall,
    archive: CallArchive,
    plan: ReplayPlan,
    *,
    max_latency_change_ms: float | None = None,
    config: MetricsConfig | None = None,
) -> Replay:
    """Place the replay of ``archive`` as ``plan`` says, and compare it with the recording."""
    notes = list(plan.notes)
    result = await place(replay_caller(plan, notes), plan.options)
    then = plan.then if config is None else facts_from_archive(archive, config)
    comparison = compare(
        then,
        facts_from_result(result, config),
        max_latency_change_ms=max_latency_change_ms,
        notes=notes,
    )
    return Replay(archive, plan, result, comparison)
