"""The simulator's CPU per media frame sent and per ``playAudio`` received.

Measured, never asserted. Runs bwsim's real media path (the pacing benchmark's: one
:class:`~simulator.call.stream.StreamDriver` per stream, every stream on one loop and
its shared pacer, each with its own recorder) against ``benchmarks/sink.py`` in another
process, twice at the same stream count:

- ``silent``: the sink never answers (``--play-every 0``), so the simulator's CPU over
  the measured window divided by the frames it sent is the cost of one frame sent (the
  pacer's wake-up share, the caller's frame, the JSON text, the WebSocket frame, the
  transport write, the recording);
- ``talking``: the sink answers like the pacing benchmark's bot (a 40 ms ``playAudio``
  every other frame, 2 s out of 4); the CPU beyond what the frames sent cost (at the
  silent run's rate) divided by the ``playAudio`` frames received is the cost of one
  received (the loop's read, the WebSocket parse, JSON, base64, μ-law, playout, trace).

CPU is this process's user + system time (``resource.getrusage``) over a window that
starts once every stream is open; the frames are counted over the same window. Other
work on the machine inflates the figures a little (cache, wake-up latency), so the load
average and the CPU pressure are printed with them; compare runs taken under similar
load, and repeat.

    python benchmarks/frame_cost.py [--streams 200] [--seconds 20] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit, install_uvloop, machine, note
from pacing import SinkProcess, caller_speech

from simulator.call.pacer import Pacer, quiet_gc
from simulator.call.recorder import CallClock, CallRecorder
from simulator.call.stream import StreamDriver
from simulator.protocol.media import CallerSource, StreamConfig


def _cpu_s() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def measure(n: int, seconds: float, play_every: int, spread_ms: float) -> dict[str, Any]:
    """One run: ``n`` streams for ``seconds`` once all are open; CPU and frame counts."""
    tmp = Path(tempfile.mkdtemp(prefix="bwsim-frame-cost-"))
    sink = SinkProcess(tmp / "arrivals.npz", play_every)
    speech = caller_speech(seconds + n * spread_ms / 1000 + 10)
    quiet_gc()
    drivers: list[StreamDriver] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        for i in range(n):
            caller = CallerSource()
            caller.say(speech, "speech")
            driver = StreamDriver(
                config=StreamConfig("9900000", f"c-{i}", f"s-{i}", f"bench-{i}"),
                destination="wss://bench",
                url=f"ws://127.0.0.1:{sink.port}/",
                headers={},
                caller=caller,
                recorder=CallRecorder(CallClock()),
                on_violation=lambda v: None,
            )
            drivers.append(driver)
            tasks.append(asyncio.create_task(driver.run()))
            await asyncio.sleep((spread_ms + random.uniform(0, 20)) / 1000)
        await asyncio.wait_for(asyncio.gather(*(d.opened.wait() for d in drivers)), 120)
        await asyncio.sleep(1.0)  # past the last stream's start

        def counts() -> tuple[int, int]:
            sent = sum(d.protocol.frames_sent for d in drivers)
            played = sum(d.outcome.play_audio_frames for d in drivers)
            return sent, played

        load = machine()
        sent0, played0 = counts()
        (user0, sys0), wall0 = _cpu_s(), time.monotonic()
        wakeups0 = Pacer.for_loop().wakeups
        await asyncio.sleep(seconds)
        (user1, sys1), wall1 = _cpu_s(), time.monotonic()
        sent1, played1 = counts()
        wakeups = Pacer.for_loop().wakeups - wakeups0
        for d in drivers:
            d.stop()
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        sink.finish()
    wall = wall1 - wall0
    user, system = user1 - user0, sys1 - sys0
    return {
        "streams": n,
        "play_every": play_every,
        "seconds": round(wall, 2),
        "frames_sent": sent1 - sent0,
        "play_audio_received": played1 - played0,
        "cpu_user_s": round(user, 3),
        "cpu_sys_s": round(system, 3),
        "cores": round((user + system) / wall, 3),
        "pacer_wakeups_per_s": round(wakeups / wall),
        "load_avg_before": load["load_avg"],
        "cpu_pressure_before_pct": load["cpu_pressure_avg10_pct"],
    }


async def main(args: argparse.Namespace) -> None:
    for run in range(args.repeat):
        note(f"frame_cost: {args.streams} streams, silent sink, {args.seconds:g} s …")
        silent = await measure(args.streams, args.seconds, 0, args.spread_ms)
        note(f"frame_cost: {args.streams} streams, talking sink, {args.seconds:g} s …")
        talking = await measure(args.streams, args.seconds, args.play_every, args.spread_ms)
        cpu_silent = silent["cpu_user_s"] + silent["cpu_sys_s"]
        per_sent = cpu_silent / max(silent["frames_sent"], 1)
        sys_per_sent = silent["cpu_sys_s"] / max(silent["frames_sent"], 1)
        cpu_talking = talking["cpu_user_s"] + talking["cpu_sys_s"]
        beyond = cpu_talking - per_sent * talking["frames_sent"]
        per_play = beyond / max(talking["play_audio_received"], 1)
        emit(
            {
                "benchmark": "frame_cost",
                "run": run + 1,
                "streams": args.streams,
                "us_per_frame_sent": round(per_sent * 1e6, 1),
                "us_sys_per_frame_sent": round(sys_per_sent * 1e6, 1),
                "us_per_play_audio_received": round(per_play * 1e6, 1),
                "silent": silent,
                "talking": talking,
                "uvloop_used": args.uvloop_used,
                "pacer": Pacer.for_loop().kind,
                "machine": machine(),
            }
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--spread-ms", type=float, default=5.0)
    parser.add_argument("--play-every", type=int, default=2, help="talking sink: every Nth frame")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-uvloop", action="store_true")
    ns = parser.parse_args()
    ns.uvloop_used = install_uvloop(not ns.no_uvloop)
    asyncio.run(main(ns))
