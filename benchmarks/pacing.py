"""How closely bwsim's media frames follow the 20 ms grid, at 1 to 500 streams at once.

Measured, never asserted. For each stream count, bwsim's real media path
(:class:`simulator.call.stream.StreamDriver`: the caller's frames on the absolute 20 ms
clock, the bot's ``playAudio`` received, decoded and played out in real time, all of it
recorded) streams to ``benchmarks/sink.py`` in another process. The sink timestamps each
frame on arrival and talks back half of the time (a 40 ms ``playAudio`` every other frame
during 2 s out of 4), like a bot.

Printed per stream count (one JSON line each):

- ``send``: each frame's write time minus its slot on the sender's absolute schedule;
- ``recv_first``: arrival minus (first frame's arrival + k x 20 ms): what a bot that keys
  its clock on the first frame sees;
- ``recv_median``: arrival minus (k x 20 ms + that stream's median offset): the jitter,
  without the first frame's own lateness inflating every later figure;
- ``drift_ms``: per stream, median offset of the last 5 s minus that of the first 5 s
  (an absolute schedule keeps it at 0); the largest over all streams;
- ``cpu``: the simulator's and the sink's CPU, in cores, over the run.

Deviations are absolute values in ms, over the frames sent once every stream was open
(starts are spread: one every ``--spread-ms`` plus a random part of a frame, so their
deadlines do not all fall in the same instant, as real calls' would not).

    python benchmarks/pacing.py                          # 1, 50, 200, 500 streams, 60 s each
    python benchmarks/pacing.py --streams 200 --seconds 30 [--no-uvloop] [--driver sleep]
    python benchmarks/pacing.py --streams 1000 --seconds 20 --processes 2   # two senders
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
from _common import dist, emit, install_uvloop, machine, note, realtime

from simulator.call.pacer import Pacer, quiet_gc
from simulator.call.recorder import CallClock, CallRecorder
from simulator.call.stream import StreamDriver
from simulator.protocol.media import CallerSource, StreamConfig

HERE = Path(__file__).resolve().parent
# Opt-in: under other people's load a pinned core can starve.
PIN = os.environ.get("BWSIM_BENCH_PIN") == "1"
# Opt-in: SCHED_FIFO for the simulator and the sink (root), so their wake-ups preempt.
RT = os.environ.get("BWSIM_BENCH_RT") == "1"
FRAME_S = 0.020


def caller_speech(seconds: float) -> np.ndarray:
    """1.5 s of a voiced tone, then 1.5 s of silence, repeated: the caller talks half the time."""
    period = np.zeros(24000, dtype=np.int16)
    t = np.arange(12000) / 8000
    period[:12000] = (np.sin(2 * np.pi * 220 * t) * 6000).astype(np.int16)
    reps = int(seconds / 3) + 2
    return np.tile(period, reps)


class SinkProcess:
    """``benchmarks/sink.py`` in a child process."""

    def __init__(self, out: Path, play_every: int) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "sink.py"),
                "--out",
                str(out),
                "--play-every",
                str(play_every),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if RT:
            realtime(self.proc.pid)
        if PIN and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
            # Sink and simulator on different cores: a frame written to the sink then wakes
            # it on its own core instead of preempting the simulator on this one.
            os.sched_setaffinity(self.proc.pid, {1})
            os.sched_setaffinity(0, {0})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"the sink did not start: {line!r}")
        self.port = int(line.split()[1])

    def finish(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        data = np.load(self.out)
        return {k: data[k] for k in data.files}


class GcPauses:
    """The cyclic collector's pauses while a benchmark runs (they stop every stream)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), (time.perf_counter() - self._t0) * 1000))

    def summary(self) -> dict[str, Any]:
        gc.callbacks.remove(self._callback)
        full = [ms for gen, ms in self.pauses if gen == 2]
        return {
            "collections": len(self.pauses),
            "full": len(full),
            "max_ms": round(max((ms for _, ms in self.pauses), default=0.0), 2),
            "max_full_ms": round(max(full, default=0.0), 2),
        }


def stream_stats(
    arrivals: np.ndarray, lateness: np.ndarray, steady_from: float
) -> dict[str, np.ndarray | float] | None:
    """Per-stream deviations (ms) over the frames that arrived after ``steady_from``."""
    n = min(len(arrivals), len(lateness))
    if n < 2:
        return None
    arrivals, lateness = arrivals[:n], lateness[:n]
    k = np.arange(n)
    offset = (arrivals - k * FRAME_S) * 1000  # ms
    keep = arrivals >= steady_from
    if keep.sum() < 2:
        return None
    first = offset - offset[0]
    steady = offset[keep]
    median = float(np.median(steady))
    window = min(250, max(1, len(steady) // 4))
    drift = float(np.median(steady[-window:]) - np.median(steady[:window]))
    late = lateness[keep]
    send_drift = float(np.median(late[-window:]) - np.median(late[:window]))
    return {
        "recv_first": np.abs(first[keep]),
        "recv_median": np.abs(steady - median),
        "send": late,
        "drift": drift,
        "send_drift": send_drift,
        "frames": float(keep.sum()),
    }


async def run_one(
    n: int, seconds: float, spread_ms: float, play_every: int, gc_freeze: bool = True
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bwsim-pacing-"))
    sink = SinkProcess(tmp / "arrivals.npz", play_every)
    speech = caller_speech(seconds + n * spread_ms / 1000 + 5)
    if gc_freeze:
        quiet_gc()  # as bwsim call and bwsim load do once the harness is up
    drivers: list[StreamDriver] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        for i in range(n):
            config = StreamConfig("9900000", f"c-{i}", f"s-{i}", f"bench-{i}")
            caller = CallerSource()
            caller.say(speech, "speech")
            driver = StreamDriver(
                config=config,
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

        # Every stream open (or given up: a saturated simulator can miss a handshake's
        # 10 s timeout; such a stream is counted, not waited for).
        async def settled(d: StreamDriver) -> None:
            waits = [asyncio.ensure_future(d.opened.wait()), asyncio.ensure_future(d.closed.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

        await asyncio.wait_for(asyncio.gather(*(settled(d) for d in drivers)), 120)
        await asyncio.sleep(0.1)
        steady_from = time.monotonic()
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        wakeups0 = Pacer.for_loop().wakeups
        gc_pauses = GcPauses()
        load_before = machine()["load_avg"]
        await asyncio.sleep(seconds)
        cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        wakeups = Pacer.for_loop().wakeups - wakeups0
        gc_summary = gc_pauses.summary()
        for d in drivers:
            d.stop()
        outcomes = await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        sink_data = sink.finish()
    wall = wall1 - wall0
    sent = [_Sent(o.lateness_ms, o.frames_sent, o.status, o.play_audio_frames) for o in outcomes]
    cpu = {
        "simulator_user": (cpu1.ru_utime - cpu0.ru_utime) / wall,
        "simulator_sys": (cpu1.ru_stime - cpu0.ru_stime) / wall,
    }
    return summarize_run(n, seconds, sent, sink_data, steady_from, wall, cpu, {
        "pacer_wakeups_per_s": round(wakeups / wall),
        "gc_pauses": gc_summary,
        "load_avg_before": load_before,
    })  # fmt: skip


@dataclass
class _Sent:
    """What the simulator side of one stream reports: enough to pair it with the sink's."""

    lateness_ms: Sequence[float]
    frames_sent: int
    status: str
    play_audio_frames: int


def summarize_run(
    n: int,
    seconds: float,
    outcomes: Sequence[_Sent],
    sink_data: dict[str, Any],
    steady_from: float,
    wall: float,
    cpu: dict[str, float],
    extra: dict[str, Any],
    workers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The benchmark's record for one stream count: every stream's samples pooled.

    ``outcomes[i]`` is stream ``s-{i}``; ``cpu`` is the simulator's (all its processes')
    user and system CPU in cores over ``wall``.
    """
    sim_user, sim_sys = cpu["simulator_user"], cpu["simulator_sys"]
    sim_cpu = sim_user + sim_sys
    per: list[dict[str, Any]] = []
    lost = 0
    for i, outcome in enumerate(outcomes):
        arrivals = sink_data.get(f"s_s-{i}")
        if arrivals is None:
            lost += 1
            continue
        stats = stream_stats(arrivals, np.asarray(outcome.lateness_ms), steady_from)
        if stats is not None:
            per.append(stats)
    if not per:
        raise SystemExit("no stream reached the sink")

    def pool(key: str) -> np.ndarray:
        return np.concatenate([s[key] for s in per])

    drifts = [abs(float(s["drift"])) for s in per]
    send_drifts = [abs(float(s["send_drift"])) for s in per]
    sent = sum(o.frames_sent for o in outcomes)
    received = sum(len(sink_data.get(f"s_s-{i}", [])) for i in range(n))
    record: dict[str, Any] = {
        "benchmark": "pacing",
        "streams": n,
        "seconds": seconds,
        "frames_measured": int(sum(float(s["frames"]) for s in per)),
        "frames_sent": sent,
        "frames_received": received,
        "streams_missing": lost,
        "streams_not_opened": sum(1 for o in outcomes if o.status != "accepted"),
        "play_audio_received": sum(o.play_audio_frames for o in outcomes),
        "send": dist(pool("send")),
        "recv_first": dist(pool("recv_first")),
        "recv_median": dist(pool("recv_median")),
        "drift_ms": {
            "recv_max": round(max(drifts), 3),
            "recv_mean": round(float(np.mean(drifts)), 3),
            "send_max": round(max(send_drifts), 3),
        },
    }
    record.update(extra)
    record["cpu_cores"] = {
        "simulator": round(sim_cpu, 3),
        "simulator_user": round(sim_user, 3),
        "simulator_sys": round(sim_sys, 3),
        "sink": round(float(sink_data["cpu_s"][0]) / wall, 3),
    }
    if workers is not None:
        record["workers"] = workers
    record["machine"] = machine()
    return record


def _worker(
    indices: list[int],
    port: int,
    seconds: float,
    spread_ms: float,
    gc_freeze: bool,
    uvloop: bool,
    conn: multiprocessing.connection.Connection,
) -> None:
    """One sender process of ``--processes N``: streams ``s-{i}`` for ``indices``, then report.

    Sends ``("open",)`` once its streams are open, waits for the parent's steady-window
    start (a ``time.monotonic()`` value: one clock for every process), measures its CPU
    over ``seconds`` from there, and sends ``("done", streams, cpu_user_s, cpu_sys_s,
    wall_s, wakeups)``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers
    install_uvloop(uvloop)
    if RT:
        realtime()
    asyncio.run(_worker_run(indices, port, seconds, spread_ms, gc_freeze, conn))


async def _worker_run(
    indices: list[int],
    port: int,
    seconds: float,
    spread_ms: float,
    gc_freeze: bool,
    conn: multiprocessing.connection.Connection,
) -> None:
    speech = caller_speech(seconds + len(indices) * spread_ms / 1000 + 10)
    if gc_freeze:
        quiet_gc()
    drivers: list[StreamDriver] = []
    tasks: list[asyncio.Task[Any]] = []
    for i in indices:
        caller = CallerSource()
        caller.say(speech, "speech")
        driver = StreamDriver(
            config=StreamConfig("9900000", f"c-{i}", f"s-{i}", f"bench-{i}"),
            destination="wss://bench",
            url=f"ws://127.0.0.1:{port}/",
            headers={},
            caller=caller,
            recorder=CallRecorder(CallClock()),
            on_violation=lambda v: None,
        )
        drivers.append(driver)
        tasks.append(asyncio.create_task(driver.run()))
        await asyncio.sleep((spread_ms + random.uniform(0, 20)) / 1000)

    async def settled(d: StreamDriver) -> None:
        waits = [asyncio.ensure_future(d.opened.wait()), asyncio.ensure_future(d.closed.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    await asyncio.wait_for(asyncio.gather(*(settled(d) for d in drivers)), 120)
    conn.send(("open",))
    steady_from = await asyncio.to_thread(conn.recv)
    await asyncio.sleep(max(0.0, steady_from - time.monotonic()))
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    wakeups0 = Pacer.for_loop().wakeups
    await asyncio.sleep(seconds)
    cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    wakeups = Pacer.for_loop().wakeups - wakeups0
    for d in drivers:
        d.stop()
    outcomes = await asyncio.gather(*tasks)
    streams = [
        (i, list(o.lateness_ms), o.frames_sent, o.status, o.play_audio_frames)
        for i, o in zip(indices, outcomes, strict=True)
    ]
    conn.send((
        "done",
        streams,
        cpu1.ru_utime - cpu0.ru_utime,
        cpu1.ru_stime - cpu0.ru_stime,
        wall1 - wall0,
        wakeups,
    ))  # fmt: skip


def run_processes(
    n: int,
    seconds: float,
    spread_ms: float,
    play_every: int,
    processes: int,
    gc_freeze: bool = True,
    uvloop: bool = True,
) -> dict[str, Any]:
    """:func:`run_one` with the ``n`` streams spread over ``processes`` sender processes.

    Each sender (spawned: a fresh interpreter) has its own event loop and pacer; stream
    ``s-{i}`` goes to sender ``i % processes``. The figures pool every stream's samples;
    ``cpu_cores.simulator`` is the senders' CPU added up, and ``workers`` shows each.
    """
    tmp = Path(tempfile.mkdtemp(prefix="bwsim-pacing-"))
    sink = SinkProcess(tmp / "arrivals.npz", play_every)
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    conns: list[multiprocessing.connection.Connection] = []
    done: dict[int, tuple[Any, ...]] = {}
    try:
        for w in range(processes):
            mine, theirs = ctx.Pipe()
            indices = list(range(w, n, processes))
            args = (indices, sink.port, seconds, spread_ms * processes, gc_freeze, uvloop, theirs)
            proc = ctx.Process(target=_worker, args=args, daemon=True)
            proc.start()
            theirs.close()
            procs.append(proc)
            conns.append(mine)
        for w in range(processes):
            _expect(procs, conns, w, "open")
        steady_from = time.monotonic() + 0.1
        load_before = machine()["load_avg"]
        for conn in conns:
            conn.send(steady_from)
        for w in range(processes):
            done[w] = _expect(procs, conns, w, "done")
    finally:
        for started in procs:
            if started.is_alive():
                started.terminate()
            started.join(10)
        sink_data = sink.finish()
    sent: list[_Sent] = [_Sent([], 0, "never", 0)] * n
    workers = []
    user = system = 0.0
    wall = max(d[4] for d in done.values())
    for w, (_, streams, cpu_user, cpu_sys, wall_w, wakeups) in sorted(done.items()):
        for i, lateness, frames, status, played in streams:
            sent[i] = _Sent(lateness, frames, status, played)
        user += cpu_user / wall_w
        system += cpu_sys / wall_w
        workers.append({
            "worker": w + 1,
            "streams": len(streams),
            "cpu_cores": round((cpu_user + cpu_sys) / wall_w, 3),
            "send": dist(np.concatenate([np.asarray(s[1]) for s in streams] or [np.zeros(0)])),
            "pacer_wakeups_per_s": round(wakeups / wall_w),
        })  # fmt: skip
    cpu = {"simulator_user": user, "simulator_sys": system}
    extra = {"processes": processes, "load_avg_before": load_before}
    return summarize_run(n, seconds, sent, sink_data, steady_from, wall, cpu, extra, workers)


def _expect(
    procs: list[BaseProcess],
    conns: list[multiprocessing.connection.Connection],
    w: int,
    kind: str,
) -> tuple[Any, ...]:
    """Worker ``w``'s next message, which must be ``kind``; a worker that died ends the run."""
    ready = multiprocessing.connection.wait([conns[w], procs[w].sentinel], timeout=300)
    if conns[w] in ready:
        message = conns[w].recv()
        if message[0] == kind:
            return tuple(message)
    raise SystemExit(f"pacing: sender {w + 1} ended before {kind!r} (exit {procs[w].exitcode})")


async def main(args: argparse.Namespace) -> None:
    for n in args.streams:
        note(f"pacing: {n} stream(s), {args.seconds:g} s …")
        if args.processes > 1:
            record = await asyncio.to_thread(
                run_processes,
                n,
                args.seconds,
                args.spread_ms,
                args.play_every,
                args.processes,
                gc_freeze=not args.no_gc_freeze,
                uvloop=args.uvloop_used,
            )
        else:
            record = await run_one(
                n, args.seconds, args.spread_ms, args.play_every, gc_freeze=not args.no_gc_freeze
            )
        record["uvloop_used"] = args.uvloop_used
        record["gc_freeze"] = not args.no_gc_freeze
        record["pacer"] = Pacer.for_loop().kind
        record["sched_fifo"] = RT
        emit(record)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--streams", type=lambda s: [int(x) for x in s.split(",")], default=[1, 50, 200, 500]
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--spread-ms", type=float, default=5.0)
    parser.add_argument("--play-every", type=int, default=2, help="sink talks every Nth frame")
    parser.add_argument("--no-uvloop", action="store_true", help="the standard asyncio loop")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="sender processes, each with its own loop (default 1: this process's loop)",
    )
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="skip simulator.call.pacer.quiet_gc"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    ns = parse_args()
    ns.uvloop_used = install_uvloop(not ns.no_uvloop)
    if RT and not realtime():
        note("pacing: BWSIM_BENCH_RT=1 but SCHED_FIFO was refused (not root?)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(ns))
