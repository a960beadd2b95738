"""Helpers shared by the benchmarks: machine details, percentiles, JSON lines."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np


def machine() -> dict[str, Any]:
    """What the figures were measured on, with the load average at the time."""
    one, five, fifteen = os.getloadavg()
    try:
        import uvloop  # noqa: PLC0415 (optional)

        uv = cast(Any, uvloop).__version__  # uvloop does not re-export __version__
    except ImportError:
        uv = None
    try:
        # Share of time some runnable task waited for a CPU (Linux PSI): the other
        # engineers' work on this shared machine shows here.
        psi = Path("/proc/pressure/cpu").read_text().split()[1]
        cpu_pressure = float(psi.split("=")[1])
    except (OSError, IndexError, ValueError):
        cpu_pressure = None
    return {
        "cpus": os.cpu_count(),
        "cpu_pressure_avg10_pct": cpu_pressure,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "uvloop": uv,
        "load_avg": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def pct(values: Sequence[float] | np.ndarray, *qs: float) -> list[float | None]:
    """Percentiles (nearest rank on the sorted values), rounded to 3 decimals."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return [None for _ in qs]
    return [round(float(np.quantile(arr, q / 100, method="higher")), 3) for q in qs]


def dist(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """p50/p99/max and the count of a sample of deviations (ms)."""
    p50, p99, top = pct(values, 50, 99, 100)
    return {"n": int(np.asarray(values).size), "p50_ms": p50, "p99_ms": p99, "max_ms": top}


def emit(record: dict[str, Any]) -> None:
    """Print one JSON line (stdout, flushed)."""
    print(json.dumps(record), flush=True)


def note(text: str) -> None:
    """A progress line for people, on stderr."""
    print(text, file=sys.stderr, flush=True)


def install_uvloop(enabled: bool) -> bool:
    """Make uvloop the event loop policy when asked and installed; returns whether it is."""
    if not enabled:
        return False
    try:
        import uvloop  # noqa: PLC0415 (optional)
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def realtime(pid: int = 0, priority: int = 10) -> bool:
    """Put a process under SCHED_FIFO (root only): its timer wake-ups then preempt others.

    On a machine other people load, a normal process woken by its timer may wait several
    milliseconds for a CPU; that is the scheduler's lateness, not the sender's. Returns
    whether it worked.
    """
    try:
        policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
        os.sched_setscheduler(pid, policy, os.sched_param(priority))
    except (AttributeError, PermissionError, OSError):
        return False
    return True
