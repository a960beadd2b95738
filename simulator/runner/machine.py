"""The machine's load while something timed ran, and when a missed time budget is its fault.

bwsim judges time budgets (a reply within 4,000 ms, a ``clear`` within 1,500 ms, a webhook
answered within 15 s) on the machine it runs on, beside the bot it judges. On a loaded
machine (a 2-core CI runner building something else) the bot and bwsim wait for a CPU, and
a budget can be missed that the bot would meet anywhere else. The audit's checks and
``bwsim run``'s scenarios share one policy: a failure that is only a missed budget is run
once more; missed again while the machine was loaded (in either attempt) and by no more
than :data:`NEAR_BUDGET` times the budget in one of them, it is ``unreliable`` (the tool
cannot tell a slow bot from a slow machine), else it stands as the bot's failure: a reply
that comes twice as late as allowed is the bot's, loaded or not.

The load is ``os.getloadavg`` (runnable processes, averaged over a minute) at the start and
end of the attempt, per CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = [
    "BUSY_LOAD_PER_CPU",
    "NEAR_BUDGET",
    "busy",
    "describe_load",
    "load_span",
    "machine_load",
    "untrusted_miss",
]

BUSY_LOAD_PER_CPU: Final = 1.0
"""Load average per CPU from which a missed time budget is not trusted to be the bot's:
more runnable processes than CPUs, so the bot and bwsim wait for a CPU."""
NEAR_BUDGET: Final = 1.5
"""A miss by at most this factor of the budget is one the machine's load can explain."""


def machine_load() -> dict[str, float]:
    """The 1, 5 and 15 minute load averages and the CPU count, now."""
    one, five, fifteen = os.getloadavg()
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "load_15m": round(fifteen, 2),
            "cpus": float(os.cpu_count() or 1)}  # fmt: skip


def load_span(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """The load over one attempt, from :func:`machine_load` at its start and end."""
    peak = max(before["load_1m"], after["load_1m"])
    return {
        "load_1m_start": before["load_1m"],
        "load_1m_end": after["load_1m"],
        "load_5m": after["load_5m"],
        "cpus": after["cpus"],
        "load_per_cpu": round(peak / max(after["cpus"], 1.0), 2),
    }


def busy(load: Mapping[str, float]) -> bool:
    """Whether the machine was too loaded for a missed budget to be the bot's."""
    return load.get("load_per_cpu", 0.0) >= BUSY_LOAD_PER_CPU


def untrusted_miss(overs: Sequence[float | None], loads: Sequence[Mapping[str, float]]) -> bool:
    """Whether budgets missed in every attempt may be the machine's, not the bot's.

    ``overs`` holds each attempt's measure over its budget (1.5: half as long again; None:
    by an amount the check cannot tell), ``loads`` each attempt's :func:`load_span`.
    """
    near = any(o is None or o <= NEAR_BUDGET for o in overs)
    return near and any(busy(load) for load in loads)


def describe_load(loads: Sequence[Mapping[str, float]]) -> str:
    """``3.1 runnable processes per CPU, 2 CPUs``: the peak of ``loads``."""
    peak = max(load.get("load_per_cpu", 0.0) for load in loads)
    cpus = loads[-1].get("cpus", 1.0)
    return f"{peak:g} runnable processes per CPU, {cpus:g} CPUs"
