"""How many concurrent calls ``bwsim load`` carries with 1 and with N processes, pacing held.

The bot is ``benchmarks/sink.py`` answering webhooks (a bot as cheap as a bot can be, in
its own process: ``<StartStream>`` back to itself, ``playAudio`` half of the time), so
what runs out first is bwsim. For each ``--processes`` value and each concurrency step,
``bwsim load --url SINK --calls C --concurrency C --processes P`` places C whole calls at
once (webhook, stream, the caller's ``--seconds`` of audio, the bot's audio, hang-up),
and the report's timing health gives bwsim's own pacing p99 (how late its caller frames
left against their 20 ms slots) and each worker's CPU. A value of P stops at the first
step whose pacing p99 is over ``--budget-ms``; the result is, for each P, the largest C
within it, and the ratio of the largest to that of the first P.

One JSON line per step, then the result (``BWSIM_BENCH_RT=1``: SCHED_FIFO for the sink
and ``bwsim load --realtime``, as for ``pacing.py``):

    python benchmarks/load.py [--processes 1,2] [--steps 100,200,300,400,600,800]
        [--seconds 3] [--budget-ms 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import soundfile as sf
from _common import emit, machine, note
from pacing import RT, SinkProcess, caller_speech


def step(port: int, calls: int, processes: int, audio: Path, out: Path) -> dict[str, Any]:
    """One ``bwsim load`` run against the sink; its timing health and results."""
    command = [
        sys.executable, "-m", "simulator.cli.main", "load",
        "--url", f"http://127.0.0.1:{port}", "--audio", str(audio),
        "--calls", str(calls), "--concurrency", str(calls), "--processes", str(processes),
        "--greeting-wait-ms", "3000", "--reply-wait-ms", "5000", "--linger-ms", "500",
        "--json", str(out),
    ] + (["--realtime"] if RT else [])  # fmt: skip
    load_before = machine()
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if not out.exists():
        raise SystemExit(f"bwsim load gave no report (exit {done.returncode}):\n{done.stderr}")
    report = json.loads(out.read_text())
    timing = report["timing"]
    return {
        "benchmark": "load-step",
        "processes": processes,
        "calls": calls,
        "calls_passed": report["calls_passed"],
        "setup_ok": report["setup_ok"],
        "wall_s": report["wall_s"],
        "pacing_p99_ms": timing["pacing"]["p99_ms"],
        "pacing_max_ms": timing["pacing"]["max_ms"],
        "frames": timing["pacing"]["frames"],
        "trustworthy": timing["trustworthy"],
        "workers": [
            {
                "worker": w["worker"],
                "calls": w["calls"],
                "cpu_cores": w["cpu_cores"],
                "pacing_p99_ms": w["pacing"]["p99_ms"],
                "error": w["error"],
            }
            for w in timing["workers"]
        ],
        "response_p50_ms": report["latency"]["response_ms"]["p50_ms"],
        "load_avg_before": load_before["load_avg"],
        "cpu_pressure_avg10_pct": load_before["cpu_pressure_avg10_pct"],
    }


def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bwsim-load-bench-"))
    audio = tmp / "caller.wav"
    sf.write(audio, caller_speech(args.seconds)[: round(args.seconds * 8000)] / 32768.0, 8000)
    best: dict[int, dict[str, Any] | None] = {}
    for processes in args.processes:
        best[processes] = None
        for calls in args.steps:
            note(f"load: {calls} calls at once, {processes} process(es) …")
            sink = SinkProcess(tmp / f"arrivals-{processes}-{calls}.npz", args.play_every)
            try:
                record = step(sink.port, calls, processes, audio, tmp / "load.json")
            finally:
                sink.finish()
            emit(record)
            p99 = record["pacing_p99_ms"]
            if p99 is None or p99 > args.budget_ms:
                break
            best[processes] = record
    first = best[args.processes[0]]
    result: dict[str, Any] = {"benchmark": "load", "budget_ms": args.budget_ms}
    for processes, found in best.items():
        result[f"processes_{processes}"] = None if found is None else {
            "calls": found["calls"],
            "pacing_p99_ms": found["pacing_p99_ms"],
            "calls_passed": found["calls_passed"],
            "ratio": None if first is None else round(found["calls"] / first["calls"], 2),
        }  # fmt: skip
    result["machine"] = machine()
    emit(result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2]
    )
    parser.add_argument(
        "--steps",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[100, 200, 300, 400, 600, 800],
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="the caller's audio")
    parser.add_argument("--budget-ms", type=float, default=5.0)
    parser.add_argument("--play-every", type=int, default=2, help="sink talks every Nth frame")
    main(parser.parse_args())
