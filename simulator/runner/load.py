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

This module returns data (:class:`LoadReport`) and prints nothing; progress goes to the
``on_call`` callback of :func:`run_load`, and :mod:`simulator.cli.load` draws it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

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

__all__ = ["CallRecord", "LoadReport", "load_caller", "loop_factory", "run_load"]


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


@dataclass
class LoadReport:
    """What a load run found."""

    calls: int
    concurrency: int
    records: list[CallRecord]
    wall_s: float
    unattributed: list[str] = field(default_factory=list)
    """Violations the fake saw that belong to no call of the run (e.g. a stray request)."""

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
        """Every call passed and nothing unattributed went wrong."""
        return self.passed == self.calls and not self.unattributed

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
            "setup_ok": self.setup_ok,
            "calls_passed": self.passed,
            "wall_s": round(self.wall_s, 2),
            "latency": self.latencies(),
            "unattributed_violations": self.unattributed,
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
        return "\n".join(rows)


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
    opts = options or CallOptions()
    caller = load_caller(
        voice, linger_ms=linger_ms, greeting_wait_ms=greeting_wait_ms, reply_wait_ms=reply_wait_ms
    )
    gate = asyncio.Semaphore(concurrency)
    records: list[CallRecord] = []
    started = time.monotonic()

    async with Harness(target, api_port=api_port, credentials=credentials, bot_env=bot_env) as h:
        quiet_gc()  # the harness and the bot are up: keep the long-lived heap out of the way

        async def one(index: int) -> None:
            async with gate:
                t0 = time.monotonic()
                result = await h.place_call(caller, options=replace(opts))
                record = _judge(index, result, (time.monotonic() - t0) * 1000)
            records.append(record)
            if on_call is not None:
                on_call(record)

        await asyncio.gather(*(one(i + 1) for i in range(calls)))
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
        wall_s=time.monotonic() - started,
        unattributed=unattributed,
    )


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
