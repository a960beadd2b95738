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
    python benchmarks/frame_cost.py --micro [--streams 200] [--rounds 250] [--repeat 3]

``--micro`` takes the pacer's timing out (see :func:`micro`): the ticks run back to back
and the playAudio frames are handed to the connections directly, so the figures do not
move with how often the loop wakes up, which depends on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import emit, install_uvloop, machine, note
from pacing import SinkProcess, caller_speech

from simulator.call.pacer import Pacer, Tick, quiet_gc
from simulator.call.recorder import CallClock, CallRecorder
from simulator.call.stream import StreamDriver
from simulator.protocol.codec import ulaw_encode
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


def _server_text_frame(text: str) -> bytes:
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 65536:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


async def micro(n: int, rounds: int, spread_ms: float) -> dict[str, Any]:
    """The same two costs without the pacer's timing, so without the machine's load in it.

    ``n`` streams are opened to a silent sink; their ticks are taken from the pacer and run
    back to back, ``rounds`` frames per stream (CPU / frames = a frame sent, the write to
    the kernel included); then each stream's connection is handed ``rounds`` playAudio
    frames of 40 ms as the network delivers them, to its ``data_received`` (CPU / frames =
    a playAudio received, the kernel's read and the loop's wake-up excluded).
    """
    tmp = Path(tempfile.mkdtemp(prefix="bwsim-frame-cost-"))
    sink = SinkProcess(tmp / "arrivals.npz", 0)
    speech = caller_speech(rounds / 50 + 10)
    quiet_gc()
    ticks: list[Tick] = []
    all_started = asyncio.Event()
    original_add = Pacer.add

    def capture(self: Pacer, due: float, tick: Tick) -> None:
        ticks.append(tick)
        if len(ticks) == n:
            all_started.set()

    Pacer.add = capture  # type: ignore[method-assign]
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
            await asyncio.sleep(spread_ms / 1000)
        await asyncio.wait_for(asyncio.gather(*(d.opened.wait() for d in drivers)), 120)
        await asyncio.wait_for(all_started.wait(), 120)
        load = machine()
        t0 = time.process_time()
        for _ in range(rounds):
            now = time.monotonic()
            for tick in ticks:
                tick(now)
            await asyncio.sleep(0)  # the loop's other work (none: the sink is silent)
        sent_s = time.process_time() - t0
        sent = sum(d.protocol.frames_sent for d in drivers)
        play = _server_text_frame(_play_audio_text(40))
        connections = [d._ws for d in drivers]
        t0 = time.process_time()
        for _ in range(rounds):
            for ws in connections:
                assert ws is not None
                ws.data_received(play)
        received_s = time.process_time() - t0
        received = sum(d.outcome.play_audio_frames for d in drivers)
        for d in drivers:
            d.stop()
        for tick in ticks:
            tick(time.monotonic())
        await asyncio.gather(*tasks)
    finally:
        Pacer.add = original_add  # type: ignore[method-assign]
        for t in tasks:
            t.cancel()
        sink.finish()
    return {
        "benchmark": "frame_cost_micro",
        "streams": n,
        "frames_sent": sent,
        "play_audio_received": received,
        "us_per_frame_sent": round(sent_s / max(sent, 1) * 1e6, 2),
        "us_per_play_audio_received": round(received_s / max(received, 1) * 1e6, 2),
        "load_avg_before": load["load_avg"],
        "cpu_pressure_before_pct": load["cpu_pressure_avg10_pct"],
    }


def _play_audio_text(ms: int) -> str:
    """A playAudio of ``ms`` of a tone, as Pipecat's Bandwidth serializer writes it."""
    t = np.arange(ms * 8) / 8000
    ulaw = ulaw_encode((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))
    media = {"contentType": "audio/pcmu", "payload": base64.b64encode(ulaw).decode()}
    return json.dumps({"eventType": "playAudio", "media": media})


async def main(args: argparse.Namespace) -> None:
    if args.micro:
        for run in range(args.repeat):
            note(f"frame_cost: {args.streams} streams, {args.rounds} frames each, back to back …")
            record = await micro(args.streams, args.rounds, args.spread_ms)
            record["run"] = run + 1
            record["uvloop_used"] = args.uvloop_used
            record["machine"] = machine()
            emit(record)
        return
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
    parser.add_argument(
        "--micro", action="store_true", help="ticks back to back, playAudio fed in (no pacer)"
    )
    parser.add_argument("--rounds", type=int, default=250, help="--micro: frames per stream")
    parser.add_argument("--no-uvloop", action="store_true")
    ns = parser.parse_args()
    ns.uvloop_used = install_uvloop(not ns.no_uvloop)
    asyncio.run(main(ns))
