"""Load runs (``bwsim load``): many independent calls to one bot, a few at a time, each checked.

One fake Bandwidth and one bot (the target, started once, as it would serve real
traffic) take ``calls`` calls, ``concurrency`` at a time. Every call is a whole call:
webhook, BXML, media stream on the real-time clock, the caller's audio, the bot's audio
played out; and every call is judged as ``bwsim call`` would judge it, plus the figures
of :mod:`simulator.judge.metrics`: a rule broken (a violation, an orphaned leg), an error, a
call that could not be set up, or a bot that never spoke or never answered is a failed
call. The report is the call-setup success, the pass count and the latency percentiles
(p50/p95/max with the sample count; no p95 below 20 samples).

The caller of each call waits for the bot's greeting to end (or ``greeting_wait_ms``),
says the audio, waits until the bot has answered and been quiet for ``linger_ms``, and
hangs up.

Every report carries its timing health: how late bwsim's own caller frames left against
their 20 ms slots (each stream's pacer lateness, raw samples) and the CPU each process
used (:class:`WorkerTiming`), with a verdict (:meth:`LoadReport.verdict`): trustworthy
when the pacing p99 is within :data:`PACING_BUDGET_MS` and no process was CPU-saturated;
otherwise the bot's latencies from the run cannot be told from bwsim's own delay. With
``--processes`` the calls are placed by :mod:`simulator.runner.load_workers`, whose
workers each run :func:`place_load` and whose reports :meth:`LoadReport.merge` joins.

This module returns data (:class:`LoadReport`) and prints nothing; progress goes to the
``on_call`` callback of :func:`run_load`, and :mod:`simulator.cli.load` draws it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import resource
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import numpy as np

from simulator.call.live import Caller, LiveCall
from simulator.call.options import CallOptions
from simulator.call.pacer import quiet_gc
from simulator.call.result import CallResult
from simulator.errors import CallTimeout
from simulator.judge.metrics import CallMetrics, summarize
from simulator.judge.verdicts import call_problems
from simulator.protocol.codec import Pcm
from simulator.runner.harness import Harness
from simulator.runner.targets import BotCredentials, Target

__all__ = [
    "CPU_SATURATED_CORES",
    "PACING_BUDGET_MS",
    "CallRecord",
    "LoadReport",
    "WorkerTiming",
    "load_caller",
    "loop_factory",
    "pacing_summary",
    "place_load",
    "run_load",
]

PACING_BUDGET_MS = 5.0
"""The timing-health budget: bwsim's own caller frames may leave at most this late (p99).

Later than this, the audio the bot heard was already late when bwsim sent it, and the
latencies bwsim measures include bwsim's own delay: the run is not a measurement."""

CPU_SATURATED_CORES = 0.95
"""A worker process that used this much of a core over its run had no CPU to spare: its
event loop was queueing work, so its clocks (and the latencies it measured) ran late."""


@dataclass
class CallRecord:
    """One call of a load run: whether it was set up, whether it passed, and its figures."""

    index: int
    call_id: str
    setup_ok: bool
    passed: bool
    problems: list[str]
    duration_ms: float
    metrics: CallMetrics = field(repr=False)

    @property
    def detail(self) -> str:
        """One sentence: the first problem, or what went right."""
        if self.problems:
            more = len(self.problems) - 1
            return self.problems[0] + (f" (and {more} more)" if more else "")
        return "the call was set up, answered and checked clean"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the ``calls`` list of the report."""
        m = self.metrics
        return {
            "id": f"call-{self.index}",
            "call_id": self.call_id,
            "passed": self.passed,
            "setup_ok": self.setup_ok,
            "detail": self.detail,
            "problems": self.problems,
            "duration_ms": round(self.duration_ms, 1),
            "first_audio_ms": None if m.first_audio_ms is None else round(m.first_audio_ms, 1),
            "response_ms": [round(v, 1) for v in m.response_latencies],
            "clear_ms": [round(v, 1) for v in m.clear_latencies],
        }


def pacing_summary(lateness_ms: Sequence[float]) -> dict[str, Any]:
    """How late bwsim's own caller frames left: frame count, p50, p99 and max (ms).

    Nearest rank on the sorted raw samples, as :func:`~simulator.judge.metrics.summarize`;
    several workers' samples are merged before ranking, never their percentiles.
    """
    values = np.sort(np.asarray(lateness_ms, dtype=np.float64))  # millions at a large run
    n = len(values)

    def rank(q: float) -> float | None:
        return round(float(values[max(0, math.ceil(q * n) - 1)]), 3) if n else None

    return {"frames": n, "p50_ms": rank(0.50), "p99_ms": rank(0.99), "max_ms": rank(1.0)}


@dataclass
class WorkerTiming:
    """One process of a load run: its calls, its CPU and how late its caller frames left."""

    worker: int
    calls: int
    lateness_ms: array[float] = field(repr=False)
    """Each caller frame's send time minus its slot on the 20 ms grid (ms)."""
    cpu_s: float
    wall_s: float
    error: str | None = None
    """Why the worker stopped before reporting (crashed, stalled, failed); None: it finished."""

    @functools.cached_property
    def pacing(self) -> dict[str, Any]:
        """:func:`pacing_summary` of this worker's frames (computed once)."""
        return pacing_summary(self.lateness_ms)

    @property
    def cores(self) -> float:
        """CPU used over the run, in cores (1.0: one core busy all the time)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def saturated(self) -> bool:
        """Whether the worker used (nearly) all of a core: see :data:`CPU_SATURATED_CORES`."""
        return self.cores >= CPU_SATURATED_CORES

    def problems(self, budget_ms: float) -> list[str]:
        """What makes this worker's timing untrustworthy (empty: nothing)."""
        found = []
        p99 = self.pacing["p99_ms"]
        if p99 is not None and p99 > budget_ms:
            found.append(f"its frames left p99 {p99:.1f} ms late, over the {budget_ms:g} ms budget")
        if self.saturated:
            found.append(f"it used {self.cores:.2f} of a core (CPU-saturated)")
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the ``timing.workers`` list of the report."""
        return {
            "worker": self.worker,
            "calls": self.calls,
            "error": self.error,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_cores": round(self.cores, 3),
            "saturated": self.saturated,
            "pacing": self.pacing,
        }


@dataclass
class LoadReport:
    """What a load run found."""

    calls: int
    concurrency: int
    records: list[CallRecord]
    wall_s: float
    unattributed: list[str] = field(default_factory=list)
    """Violations the fake saw that belong to no call of the run (e.g. a stray request)."""
    workers: list[WorkerTiming] = field(default_factory=list)
    """Each process that placed calls (one without ``--processes``), with its timing."""
    budget_ms: float = PACING_BUDGET_MS
    """The timing-health budget for bwsim's own pacing p99 (:data:`PACING_BUDGET_MS`)."""
    _pacing: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def merge(
        cls,
        parts: Sequence[LoadReport],
        *,
        calls: int,
        concurrency: int,
        wall_s: float,
        failed: Sequence[WorkerTiming] = (),
        unattributed: Sequence[str] = (),
    ) -> LoadReport:
        """One report from the workers' reports: their records and raw samples, together.

        ``failed`` are the workers that never reported (with their error); their calls
        count as not passed. ``unattributed`` are the parent's own findings.
        """
        records = sorted((r for p in parts for r in p.records), key=lambda r: r.index)
        workers = sorted([w for p in parts for w in p.workers] + list(failed), key=_worker_no)
        stray = list(unattributed) + [u for p in parts for u in p.unattributed]
        return cls(calls, concurrency, records, wall_s, stray, workers)

    @property
    def failed_workers(self) -> list[WorkerTiming]:
        """Workers that crashed, stalled or failed before reporting."""
        return [w for w in self.workers if w.error is not None]

    def pacing(self) -> dict[str, Any]:
        """The pacing of bwsim's own frames over every worker's frames (raw samples merged)."""
        if self._pacing is None:
            merged = array("d")
            for w in self.workers:
                merged.extend(w.lateness_ms)
            self._pacing = pacing_summary(merged)
        return self._pacing

    def timing_problems(self) -> list[str]:
        """Why the timing cannot be trusted, one sentence part per problem (empty: it can)."""
        found = []
        p99 = self.pacing()["p99_ms"]
        if p99 is not None and p99 > self.budget_ms:
            found.append(
                f"bwsim's own frames left p99 {p99:.1f} ms late, over the "
                f"{self.budget_ms:g} ms budget"
            )
        several = len(self.workers) > 1
        for w in self.workers:
            if w.error is not None:
                continue
            for problem in w.problems(self.budget_ms):
                if several or "CPU" in problem:
                    found.append(f"worker {w.worker}: {problem}" if several else problem)
        return found

    @property
    def trustworthy(self) -> bool:
        """Whether bwsim kept its own timing: pacing p99 within budget, no worker saturated."""
        return not self.timing_problems()

    def verdict(self) -> str:
        """The timing-health line of the report."""
        pacing = self.pacing()
        busiest = max((w.cores for w in self.workers if w.error is None), default=0.0)
        if self.trustworthy:
            p99 = pacing["p99_ms"]
            lag = "no caller frames were sent" if p99 is None else f"frames p99 {p99:.2f} ms late"
            return (
                f"timing: trustworthy (bwsim's own {lag}, budget {self.budget_ms:g} ms; "
                f"busiest worker {busiest:.2f} core)"
            )
        return (
            "timing: NOT trustworthy: the load generator was overloaded ("
            + "; ".join(self.timing_problems())
            + "), so the bot's latencies from this run cannot be trusted; place fewer calls "
            "at a time, use more --processes, or run on a quieter machine"
        )

    @property
    def setup_ok(self) -> int:
        """Calls whose webhook was answered and whose media stream opened."""
        return sum(r.setup_ok for r in self.records)

    @property
    def passed(self) -> int:
        """Calls with no problem at all."""
        return sum(r.passed for r in self.records)

    @property
    def ok(self) -> bool:
        """Every call passed, every worker reported and nothing unattributed went wrong."""
        return self.passed == self.calls and not self.unattributed and not self.failed_workers

    def latencies(self) -> dict[str, dict[str, Any]]:
        """Percentiles of each latency over every call."""
        ms = [r.metrics for r in self.records]
        return {
            "first_audio_ms": summarize([m.first_audio_ms for m in ms if m.first_audio_ms]),
            "response_ms": summarize([v for m in ms for v in m.response_latencies]),
            "clear_ms": summarize([v for m in ms for v in m.clear_latencies]),
            "call_duration_ms": summarize([r.duration_ms for r in self.records]),
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` report (``"schema": 1``)."""
        return {
            "schema": 1,
            "command": "load",
            "passed": self.ok,
            "calls": self.calls,
            "concurrency": self.concurrency,
            "processes": len(self.workers),
            "setup_ok": self.setup_ok,
            "calls_passed": self.passed,
            "wall_s": round(self.wall_s, 2),
            "latency": self.latencies(),
            "unattributed_violations": self.unattributed,
            "timing": {
                "trustworthy": self.trustworthy,
                "verdict": self.verdict(),
                "budget_ms": self.budget_ms,
                "cpu_saturated_cores": CPU_SATURATED_CORES,
                "pacing": self.pacing(),
                "workers": [w.to_dict() for w in self.workers],
            },
            "results": [r.to_dict() for r in self.records],
        }

    def table(self) -> str:
        """The console table."""

        def cell(v: Any) -> str:
            return "-" if v is None else f"{v:.0f}"

        rows = [
            f"calls {self.calls}, {self.concurrency} at a time, {self.wall_s:.1f} s",
            f"call setup   {self.setup_ok}/{self.calls} ok",
            f"passed       {self.passed}/{self.calls}",
            "",
            f"{'latency (ms)':<18}{'n':>6}{'p50':>8}{'p95':>8}{'max':>8}",
        ]
        for name, s in self.latencies().items():
            rows.append(
                f"{name:<18}{s['n']:>6}{cell(s['p50_ms']):>8}{cell(s['p95_ms']):>8}"
                f"{cell(s['max_ms']):>8}"
            )
        rows += [
            "",
            f"{'bwsim pacing (ms)':<18}{'frames':>8}{'p50':>8}{'p99':>8}{'max':>8}{'CPU':>7}",
        ]

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}"

        def line(name: str, p: dict[str, Any], cpu: str) -> str:
            return (
                f"{name:<18}{p['frames']:>8}{ms(p['p50_ms']):>8}{ms(p['p99_ms']):>8}"
                f"{ms(p['max_ms']):>8}{cpu:>7}"
            ).rstrip()

        for w in self.workers:
            if w.error is None:
                rows.append(line(f"worker {w.worker}", w.pacing, f"{w.cores:.2f}"))
            else:
                rows.append(f"worker {w.worker:<11}FAILED: {w.error}")
        if len(self.workers) != 1:
            rows.append(line("all", self.pacing(), ""))
        rows += ["", self.verdict()]
        return "\n".join(rows)


def _worker_no(w: WorkerTiming) -> int:
    return w.worker


def load_caller(
    voice: Pcm, *, linger_ms: float, greeting_wait_ms: float, reply_wait_ms: float = 10_000
) -> Caller:
    """Wait out the greeting, say ``voice``, wait for the answer, hang up after ``linger_ms``."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=15_000)
        with contextlib.suppress(CallTimeout):  # no greeting (or a long one): speak anyway
            await call.wait_for("bot-speech-end", timeout_ms=greeting_wait_ms)
        await call.say(voice, "audio")
        said = call.ms()
        try:
            start = await call.wait_for("bot-speech-start", timeout_ms=reply_wait_ms, after_ms=said)
            await call.wait_for("bot-speech-end", timeout_ms=120_000, after_ms=start.at_ms)
        except CallTimeout:
            return  # no answer: the metrics report it
        while True:
            try:
                again = await call.wait_for(
                    "bot-speech-start", timeout_ms=linger_ms, after_ms=call.ms()
                )
            except CallTimeout:
                return
            await call.wait_for("bot-speech-end", timeout_ms=120_000, after_ms=again.at_ms)

    return caller


def _judge(index: int, result: CallResult, duration_ms: float) -> CallRecord:
    metrics = result.metrics
    opened = any(s.status == "accepted" for s in result.streams)
    delivered = result.exchange is not None and result.exchange.delivered
    problems = call_problems(result, stream=True, metrics=True)
    return CallRecord(
        index=index,
        call_id=result.call_id,
        setup_ok=delivered and opened,
        passed=not problems,
        problems=problems,
        duration_ms=duration_ms,
        metrics=metrics,
    )


async def run_load(
    target: Target,
    voice: Pcm,
    *,
    calls: int,
    concurrency: int,
    options: CallOptions | None = None,
    linger_ms: float = 1500.0,
    greeting_wait_ms: float = 5000.0,
    reply_wait_ms: float = 10_000.0,
    api_port: int = 0,
    credentials: BotCredentials | None = None,
    bot_env: dict[str, str] | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
) -> LoadReport:
    """Place ``calls`` calls, ``concurrency`` at a time, to one bot; judge each.

    ``on_call`` is called with each call's record as soon as that call is judged.
    """
    if calls < 1 or concurrency < 1:
        raise ValueError(f"calls and concurrency must be at least 1, got {calls}, {concurrency}")
    async with Harness(target, api_port=api_port, credentials=credentials, bot_env=bot_env) as h:
        quiet_gc()  # the harness and the bot are up: keep the long-lived heap out of the way
        return await place_load(
            h,
            voice,
            calls=calls,
            concurrency=concurrency,
            options=options,
            linger_ms=linger_ms,
            greeting_wait_ms=greeting_wait_ms,
            reply_wait_ms=reply_wait_ms,
            on_call=on_call,
        )


async def place_load(
    h: Harness,
    voice: Pcm,
    *,
    calls: int,
    concurrency: int,
    options: CallOptions | None = None,
    linger_ms: float = 1500.0,
    greeting_wait_ms: float = 5000.0,
    reply_wait_ms: float = 10_000.0,
    first_index: int = 1,
    worker: int = 1,
    on_call: Callable[[CallRecord], None] | None = None,
) -> LoadReport:
    """Place the calls of a load run on a running harness (one process's share of them).

    Calls are numbered from ``first_index``; the report's one :class:`WorkerTiming` is
    numbered ``worker`` and holds this process's CPU and every caller frame's lateness.
    """
    opts = options or CallOptions()
    caller = load_caller(
        voice, linger_ms=linger_ms, greeting_wait_ms=greeting_wait_ms, reply_wait_ms=reply_wait_ms
    )
    gate = asyncio.Semaphore(concurrency)
    records: list[CallRecord] = []
    lateness = array("d")
    started = time.monotonic()
    cpu0 = _cpu_s()

    # One client for every call's webhooks: making one costs 25-60 ms of the loop (its
    # TLS context), which would hold every running call's frames that long per call.
    client = httpx.AsyncClient(
        trust_env=False,
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=None, keepalive_expiry=1.0
        ),
    )

    async def one(index: int) -> None:
        async with gate:
            t0 = time.monotonic()
            result = await h.place_call(caller, options=replace(opts), client=client)
            record = _judge(index, result, (time.monotonic() - t0) * 1000)
        for stream in result.streams:
            lateness.extend(stream.lateness_ms)
        records.append(record)
        if on_call is not None:
            on_call(record)

    try:
        await asyncio.gather(*(one(first_index + i) for i in range(calls)))
    finally:
        await client.aclose()
    wall = time.monotonic() - started
    timing = WorkerTiming(
        worker=worker, calls=calls, lateness_ms=lateness, cpu_s=_cpu_s() - cpu0, wall_s=wall
    )
    mine = {r.call_id for r in records}
    unattributed = [
        f"{v.kind}: {v.detail}"
        for v in h.fake.journal.violations
        if v.evidence.get("call_id") not in mine
    ]
    records.sort(key=lambda r: r.index)
    return LoadReport(
        calls=calls,
        concurrency=concurrency,
        records=records,
        wall_s=wall,
        unattributed=unattributed,
        workers=[timing],
    )


def _cpu_s() -> float:
    """CPU seconds this process has used (user and system), for the timing health."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop to run on: uvloop when installed (``BWSIM_LOOP=asyncio`` opts out).

    At hundreds of concurrent streams uvloop's cheaper iterations and writes leave more of
    the core for the frames (see benchmarks/README.md for the figures).
    """
    if os.environ.get("BWSIM_LOOP", "uvloop") == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415 (optional: not on Windows)
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
