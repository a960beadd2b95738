"""How many real-time streams one core of bwsim carries: the largest count within budget.

Runs the pacing benchmark's measurement (``benchmarks/pacing.py``: bwsim's full media
path against the sink in another process, the sink talking back half of the time) at
rising stream counts, and stops at the first count whose receive-side p99 deviation
(from each stream's median offset) exceeds the budget. bwsim runs every stream on one
event loop, in one thread: the count it carries is what one core carries; the CPU it
used is printed beside it (``streams_per_core`` divides by it). With ``--processes N`` the
streams are spread over N sender processes (``pacing.run_processes``), each with its own
loop: the count is what the machine carries with every core in use, the sink included.

One JSON line per step, then the result (``BWSIM_BENCH_RT=1``: SCHED_FIFO for the
simulator and the sink, as for ``pacing.py``):

    python benchmarks/capacity.py [--steps 100,200,300,400,500,600,800] [--seconds 20]
    python benchmarks/capacity.py --processes 2 --steps 600,800,1000,1200 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from _common import emit, install_uvloop, machine, note, realtime
from pacing import RT, run_one, run_processes


async def main(args: argparse.Namespace) -> None:
    best: dict[float, dict[str, Any]] = {}
    steps: list[dict[str, Any]] = []
    step: dict[str, Any] | None  # a measured step, then the best one within each budget
    for n in args.steps:
        note(f"capacity: {n} streams, {args.seconds:g} s …")
        if args.processes > 1:
            r = await asyncio.to_thread(
                run_processes,
                n,
                args.seconds,
                args.spread_ms,
                args.play_every,
                args.processes,
                uvloop=args.uvloop_used,
            )
        else:
            r = await run_one(n, args.seconds, args.spread_ms, args.play_every)
        p99 = r["recv_median"]["p99_ms"]
        step = {
            "benchmark": "capacity-step",
            "streams": n,
            "recv_median_p99_ms": p99,
            "recv_first_p99_ms": r["recv_first"]["p99_ms"],
            "send_p99_ms": r["send"]["p99_ms"],
            "max_ms": r["recv_median"]["max_ms"],
            "simulator_cores": r["cpu_cores"]["simulator"],
            "sink_cores": r["cpu_cores"]["sink"],
            "load_avg_before": r["load_avg_before"],
            "cpu_pressure_avg10_pct": r["machine"]["cpu_pressure_avg10_pct"],
        }
        if args.processes > 1:
            step["workers"] = [
                {k: w[k] for k in ("worker", "streams", "cpu_cores")} for w in r["workers"]
            ]
        steps.append(step)
        emit(step)
        for budget in args.budgets:
            if p99 is not None and p99 <= budget:
                best[budget] = step
        if p99 is None or p99 > max(args.budgets):
            break
    result: dict[str, Any] = {
        "benchmark": "capacity",
        "seconds": args.seconds,
        "processes": args.processes,
    }
    for budget in args.budgets:
        step = best.get(budget)
        key = f"p99_le_{budget:g}ms"
        if step is None:
            result[key] = None
            continue
        cores = max(step["simulator_cores"], 1e-9)
        # One process: what a core carries (it cannot use more than one). Several: the
        # streams over the cores their senders used together.
        per_core = step["streams"] / (min(1.0, cores) if args.processes == 1 else cores)
        result[key] = {
            "streams": step["streams"],
            "simulator_cores": cores,
            "streams_per_core": round(per_core, 1),
        }
    result["stopped_at"] = steps[-1]["streams"] if steps else None
    result["uvloop_used"] = args.uvloop_used
    result["sched_fifo"] = args.sched_fifo
    result["machine"] = machine()
    emit(result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[100, 200, 300, 400, 500, 600, 800],
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--spread-ms", type=float, default=5.0)
    parser.add_argument("--play-every", type=int, default=2)
    parser.add_argument(
        "--budgets", type=lambda s: [float(x) for x in s.split(",")], default=[5.0, 10.0]
    )
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="sender processes, each with its own event loop (default 1); the sink is another",
    )
    ns = parser.parse_args()
    ns.uvloop_used = install_uvloop(not ns.no_uvloop)
    ns.sched_fifo = RT and realtime()  # BWSIM_BENCH_RT=1, as for pacing.py
    asyncio.run(main(ns))
