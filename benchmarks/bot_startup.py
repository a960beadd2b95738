"""How fast the reference bot starts and greets with no keys, measured, not asserted.

Each run starts ``python -m bot`` as a fresh process through bwsim (``--cmd``), times it
from spawn until its port accepts connections, then places one call and times the
greeting's first audio from the moment the media socket opened (both on bwsim's clock:
the bot's audio is timed when the caller would hear it). Prints one JSON line per run and
a summary line with the machine's details.

    python benchmarks/bot_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time

from simulator import CallOptions, CmdTarget, Harness, LiveCall


async def _greeted(call: LiveCall) -> None:
    await call.wait_for("bot-audio-first", timeout_ms=10_000)
    call.hangup()


async def one_run() -> dict[str, float]:
    spawned = time.monotonic()
    async with Harness(CmdTarget("python -m bot")) as h:
        startup_s = time.monotonic() - spawned
        result = await h.place_call(_greeted, options=CallOptions(max_call_s=20))
    accepted = result.recorder.first("stream-accepted")
    audio = result.recorder.first("bot-audio-first")
    if accepted is None or audio is None:
        raise SystemExit(f"the bot did not greet: {result.errors or result.violations}")
    return {"startup_s": round(startup_s, 3), "greeting_ms": round(audio.at_ms - accepted.at_ms, 1)}


async def main(runs: int) -> None:
    rows = []
    for n in range(runs):
        row = await one_run()
        rows.append(row)
        print(json.dumps({"run": n + 1, **row}), flush=True)
    startups = [r["startup_s"] for r in rows]
    greetings = [r["greeting_ms"] for r in rows]
    print(
        json.dumps(
            {
                "benchmark": "bot_startup",
                "runs": runs,
                "startup_s": {"median": statistics.median(startups), "max": max(startups)},
                "greeting_ms": {"median": statistics.median(greetings), "max": max(greetings)},
                "targets": {"startup_s": 5.0, "greeting_ms": 2000},
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_avg_1m": os.getloadavg()[0],
                },
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
