"""How long the bundled scenario suite takes against its longest scenario.

Runs ``bwsim run --json PATH`` (the bundled scenarios against the bundled reference bot)
and compares the wall time of the whole run with the longest scenario's ``duration_ms``
from the report: the target is a wall time within 1.5 x the longest scenario, which
only a suite that runs its scenarios concurrently can meet. Prints one JSON line.

Exit 2, saying so, when this checkout's ``bwsim`` has no ``run`` command yet.

    python benchmarks/suite.py [--runs 3] [-- EXTRA bwsim run ARGUMENTS]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit, machine, note

BWSIM = [sys.executable, "-m", "simulator.cli.main"]


def has_run_command() -> bool:
    done = subprocess.run(
        [*BWSIM, "run", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    return done.returncode == 0


def one_run(extra: list[str]) -> dict[str, Any]:
    report = Path(tempfile.mkdtemp(prefix="bwsim-suite-")) / "run.json"
    started = time.monotonic()
    done = subprocess.run(
        [*BWSIM, "run", "--json", str(report), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    wall_ms = (time.monotonic() - started) * 1000
    if not report.exists():
        raise SystemExit(f"bwsim run wrote no report (exit {done.returncode}): {done.stderr}")
    data = json.loads(report.read_text())
    scenarios = data.get("scenarios") or data.get("checks") or []
    durations = [float(s["duration_ms"]) for s in scenarios if s.get("duration_ms") is not None]
    longest = max(durations) if durations else None
    return {
        "exit_code": done.returncode,
        "scenarios": len(scenarios),
        "passed": sum(1 for s in scenarios if s.get("passed")),
        "wall_ms": round(wall_ms, 1),
        "longest_scenario_ms": longest,
        "sum_of_scenarios_ms": round(sum(durations), 1),
        "wall_over_longest": round(wall_ms / longest, 2) if longest else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more arguments for bwsim run")
    args = parser.parse_args()
    if not has_run_command():
        note(
            "suite: this checkout's bwsim has no `run` command yet (it is being built "
            "separately); nothing to measure. Re-run once `bwsim run --json PATH` exists."
        )
        return 2
    rows = []
    for n in range(args.runs):
        note(f"suite: run {n + 1}/{args.runs} …")
        row = one_run(args.extra)
        rows.append(row)
        emit({"benchmark": "suite-run", "run": n + 1, **row, "machine": machine()})
    ratios = [r["wall_over_longest"] for r in rows if r["wall_over_longest"] is not None]
    emit(
        {
            "benchmark": "suite",
            "runs": len(rows),
            "wall_ms_median": sorted(r["wall_ms"] for r in rows)[len(rows) // 2],
            "wall_over_longest_median": sorted(ratios)[len(ratios) // 2] if ratios else None,
            "target_wall_over_longest": 1.5,
            "machine": machine(),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
