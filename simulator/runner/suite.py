"""Running scenarios: one bot per distinct ``bot_env`` and ``allow_hosts``, calls at once.

:func:`run_suite` groups the scenarios by the environment and outside hosts their bot
needs, starts one :class:`~simulator.runner.harness.Harness` (fake Bandwidth plus bot) per
group, and runs every scenario as its own call, up to ``concurrency`` calls at once across
all groups, so a suite takes about as long as its slowest scenario. Each call is judged
(:mod:`simulator.judge.expect`) and, with ``out_dir``, leaves its artifacts in
``out_dir/<scenario id>/``: ``call.wav``, ``trace.jsonl``, ``timeline.json``,
``summary.json`` and ``timeline.png``.

Besides its own expectations, every scenario fails on what a demanding user never wants
to pass silently: a violation nobody expected, a caller step that timed out, a call that
hit ``max_call_s``, an undelivered webhook that no ``webhook_response`` expectation
covers, invalid BXML. A scenario that failed only because something came later than its
``within_ms`` budget is run once more (:mod:`simulator.runner.rerun`): on a loaded machine,
missed twice near the budget, it is ``unreliable`` rather than failed.

Each bot bwsim starts writes its output (stdout and stderr) to
``out_dir/bots/<n>-<target slug>.log`` (a temporary file without ``out_dir``); the
suite's :class:`BotRecord` list and every scenario's ``bot_log`` name it.

A bot that dies mid-suite is not restarted: a restart would hide the crash and judge the
rest of the suite on a bot in an unknown state. The scenarios whose calls were in flight
when it exited fail with "the bot (…) exited with code N during this call", the last
lines of its log and the log's path; every later scenario for that bot fails at once with
"the bot exited earlier (…)", without placing a call. The run then exits 1.

An unexpected exception while running or judging one scenario (bwsim's own fault, or a
bot input bwsim did not survive) does not end the suite: that scenario's status is
``"error"`` with the exception's type and message, its traceback is written to
``out_dir/<scenario id>/error.txt``, and the other scenarios run and are reported. The
run then exits 2 (README.md, exit codes): its results cannot all be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulator.call.pacer import quiet_gc
from simulator.call.result import CallResult
from simulator.judge.expect import judge_all, observe
from simulator.judge.metrics import CallMetrics
from simulator.judge.scenario import Scenario
from simulator.judge.verdicts import call_problems
from simulator.report.plot import plot_timeline
from simulator.rest.journal import Violation
from simulator.runner.harness import Harness
from simulator.runner.lifetime import enter_all
from simulator.runner.rerun import rerun_late
from simulator.runner.scenario_call import (
    call_options,
    outbound_call,
    scenario_caller,
    scenario_weight,
)
from simulator.runner.scenario_result import ScenarioResult, Status
from simulator.runner.targets import RunningBot, Target, UrlTarget, bot_log_name, describe_exit

__all__ = ["BotRecord", "ScenarioResult", "SuiteResult", "run_suite"]

SETTLE_MS = 1500.0
"""How long after a call ends its late requests (a bot's own hang-up) are still counted."""
START_GAP_S = 0.3
"""Least time between two calls starting. Real calls do not arrive in the same instant,
and a bot that sets up a pipeline per call (models, sessions) would otherwise be judged
on a burst no phone network produces."""


@dataclass
class BotRecord:
    """One bot the suite used: what it is, where its log is, and whether it died."""

    description: str
    bot_env: dict[str, str]
    log: Path | None
    base_url: str = ""
    exit_code: int | None = None
    """Set when the bot exited before the suite stopped it."""
    exited_during: list[str] = field(default_factory=list)
    """The scenarios whose calls were in flight when it exited (empty: between calls)."""
    not_run: list[str] = field(default_factory=list)
    """The scenarios failed without a call because it had exited."""
    in_flight: set[str] = field(default_factory=set, repr=False)
    """The scenarios whose calls it is taking now."""

    @property
    def exit(self) -> str:
        """``--app x:y exited with code 1 during a/b``, or "" for a bot that did not exit."""
        if self.exit_code is None:
            return ""
        when = f"during {', '.join(self.exited_during)}" if self.exited_during else "between calls"
        return f"{self.description} {describe_exit(self.exit_code)} {when}"

    def started(self, bot: RunningBot | None) -> None:
        """Note where the started bot listens and where its log really is."""
        if bot is not None:
            self.base_url = bot.base_url
            self.log = bot.log_path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (an addition to report schema 1)."""
        return {
            "description": self.description,
            "bot_env": self.bot_env,
            "url": self.base_url,
            "log": None if self.log is None else str(self.log),
            "exit_code": self.exit_code,
            "exited_during": self.exited_during,
            "not_run": self.not_run,
        }


@dataclass
class SuiteResult:
    """Every scenario's result, and the run's own facts."""

    results: list[ScenarioResult]
    target: str
    started_at: datetime
    duration_ms: float
    bots: list[BotRecord] = field(default_factory=list)
    """Every bot the suite started (or the ``--url`` bot), in start order."""
    interrupted: bool = False
    """Interrupted (Ctrl-C, SIGTERM): the scenarios not finished are ``"skipped"``, saying so."""

    def count(self, status: Status) -> int:
        """How many scenarios ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def passed(self) -> bool:
        """None failed or errored, one ran (``unreliable`` counts), and none was cut short."""
        ran = self.count("passed") + self.count("unreliable")
        ok = self.count("failed") == 0 and self.count("error") == 0 and ran > 0
        return ok and not self.interrupted


Progress = Callable[[str, Scenario, ScenarioResult | None], None]
"""Called with ``("start", scenario, None)`` and ``("done", scenario, result)``."""


# -- one scenario ------------------------------------------------------------------------


def _covered_violation(v: Violation, scenario: Scenario) -> bool:
    """Whether an expectation (or allow_violations) already speaks of this violation.

    Expected ones are fine; ``absent`` ones fail through their own expectation, so they
    are not reported a second time.
    """
    names = v.names
    if names & set(scenario.allow_violations):
        return True
    for e in scenario.expect:
        if e.kind == "orphaned_leg" and v.kind == "orphaned-leg":
            return True
        if e.kind == "violation" and (e.params.get("rule") is None or e.params["rule"] in names):
            return True
    return False


def _implicit_problems(scenario: Scenario, result: CallResult) -> list[str]:
    covers_webhook = any(e.kind == "webhook_response" for e in scenario.expect)
    return call_problems(
        result,
        style="scenario",
        covered=lambda v: _covered_violation(v, scenario),
        webhook=not covers_webhook,
        bxml=True,
    )


def _timings(result: CallResult, metrics: CallMetrics) -> dict[str, float | None]:
    """Key timings for the table: measured on the audio (see :mod:`simulator.judge.metrics`)."""
    answered = result.recorder.first("webhook-answered")
    responses = metrics.response_latencies
    clears = metrics.clear_latencies
    return {
        "webhook_ms": answered.at_ms if answered else None,
        "stream_open_ms": metrics.stream_opened_at_ms,
        "first_audio_ms": metrics.first_audio_ms,
        "response_p50_ms": statistics.median(responses) if responses else None,
        "clear_ms": clears[0] if clears else None,
    }


def _write_artifacts(result: ScenarioResult, out_dir: Path) -> None:
    call = result.call
    if call is None:
        return
    directory = out_dir / result.scenario.id
    paths = call.write(directory)
    paths["timeline_png"] = plot_timeline(
        directory / "timeline.png",
        caller=call.recorder.caller_track(),
        bot=call.recorder.bot_track(),
        events=call.timeline,
        title=f"{result.scenario.id}: {result.scenario.name}",
        passed=result.passed,
    )
    result.artifacts = {k: str(v) for k, v in paths.items()}


async def _run_one(h: Harness, scenario: Scenario, settle_ms: float) -> ScenarioResult:
    fake = h.fake
    started = time.monotonic()
    victim: tuple[str, str, bool] | None = None
    templates = {"HUMAN_AGENT_NUMBER": h.credentials.human_agent_number}
    if scenario.victim is not None:
        other = scenario.victim == "other_account"
        account = fake.registry.create_account() if other else fake.default_account
        v_call = fake.registry.create_call(account.account_id, from_="+15555550177")
        fake.registry.answer(v_call.call_id)
        victim = (v_call.call_id, account.account_id, other)
        templates |= {"victim.callId": v_call.call_id, "victim.accountId": account.account_id}
    problems: list[str] = []
    first_seq = fake.journal.last_seq
    caller, options = scenario_caller(scenario, problems), call_options(scenario, templates)
    outbound = outbound_call(scenario)
    if outbound is None:
        result = await h.place_call(caller, options=options)
    else:
        result = await h.place_outbound_call(*outbound, caller, options=options)
    linger_ms = max(settle_ms, scenario.call.linger_ms)
    await asyncio.sleep(linger_ms / 1000)  # the bot's own late requests still count
    entries = fake.journal.since(first_seq)
    v_phase = v_cause = None
    if victim is not None:
        v = fake.registry.get(victim[0])
        if v is not None:
            v_phase, v_cause = v.phase.value, v.disconnect_cause
            if v.active:
                fake.registry.end(v.call_id, "hangup")  # tidy up after judging
    obs = observe(
        result,
        entries,
        victim=victim,
        victim_phase=v_phase,
        victim_cause=v_cause,
        templates=templates,
        requests_not_kept=fake.journal.requests_not_kept,
    )
    verdicts = judge_all(obs, scenario.expect, ordered=scenario.ordered)
    metrics = result.metrics
    problems.extend(_implicit_problems(scenario, result))
    failed = [v for v in verdicts if not v.passed]
    if failed or problems:
        never_created = result.phase == "not-created" and problems  # its error says why
        first = failed[0].detail if failed and not never_created else problems[0]
        more = len(failed) + len(problems) - 1
        detail = first + (f" (and {more} more)" if more > 0 else "")
        status: Status = "failed"
    else:
        detail = f"all {len(verdicts)} expectations met."
        status = "passed"
    return ScenarioResult(
        scenario=scenario,
        status=status,
        detail=detail,
        verdicts=verdicts,
        problems=problems,
        duration_ms=(time.monotonic() - started) * 1000,
        call=result,
        timings=_timings(result, metrics),
        metrics=metrics.to_dict(),
        victim_id=victim[0] if victim else None,
        bot=h.bot.base_url if h.bot is not None else None,
        bot_log=str(h.bot.log_path) if h.bot is not None and h.bot.log_path else None,
    )


async def _run_guarded(
    h: Harness, s: Scenario, record: BotRecord, settle_ms: float, out_dir: Path | None
) -> ScenarioResult:
    """Run, judge and keep one scenario; an exception becomes that scenario's error."""
    record.in_flight.add(s.id)
    began = time.monotonic()
    try:
        r = await _run_one(h, s, settle_ms)
        if await _bot_gone(h.bot, record, during=s.id):
            _died_during(r, h.bot, record)
        record.in_flight.discard(s.id)
        if out_dir is not None:
            await asyncio.to_thread(_write_artifacts, r, out_dir)
    except Exception as exc:  # noqa: BLE001 - one scenario's error, never the suite's
        record.in_flight.discard(s.id)
        return _errored(s, exc, h, began, out_dir)
    return r


# -- the suite ---------------------------------------------------------------------------


async def run_suite(
    scenarios: Sequence[Scenario],
    target: Target,
    *,
    out_dir: Path | None = None,
    concurrency: int = 8,
    settle_ms: float = SETTLE_MS,
    progress: Progress | None = None,
    startup_timeout_s: float = 60.0,
    instances: int = 1,
    allow_hosts: Sequence[str] = (),
    on_interrupt: Callable[[SuiteResult], None] | None = None,
) -> SuiteResult:
    """Run every scenario against ``target``; raises TargetError if a bot does not start.

    ``instances`` copies of an ``--app``/``--cmd`` bot are started per bot configuration,
    each with its own simulator, and the scenarios are dealt out among them longest
    first; a call's webhook and stream always reach the same copy. ``allow_hosts`` are
    the outside hosts the bots may reach (``--allow-host``).

    Cancelled (Ctrl-C), it stops the bots, gives ``on_interrupt`` what finished with the
    rest ``"skipped"`` as interrupted (:attr:`SuiteResult.interrupted`), and goes on.
    """
    started_at, t0 = datetime.now(UTC), time.monotonic()
    slots, gate, last_start = asyncio.Semaphore(max(1, concurrency)), asyncio.Lock(), [0.0]
    results: dict[str, ScenarioResult] = {}
    groups: dict[tuple[tuple[tuple[str, str], ...], tuple[str, ...]], list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault((s.bot_env, s.allow_hosts), []).append(s)  # one bot per configuration
    bots: list[BotRecord] = []
    records: dict[Harness, BotRecord] = {}
    numbers = itertools.count(1)

    def done(s: Scenario, r: ScenarioResult) -> None:
        results[s.id] = r
        if progress is not None:
            progress("done", s, r)

    async def one(h: Harness, s: Scenario) -> None:
        record = records[h]
        async with slots:
            async with gate:
                wait = last_start[0] + START_GAP_S - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                last_start[0] = time.monotonic()
            if await _bot_gone(h.bot, record):  # checked as late as possible before the call
                done(s, _not_run(s, record))
                return
            if progress is not None:
                progress("start", s, None)
            done(s, await rerun_late(lambda: _run_guarded(h, s, record, settle_ms, out_dir)))

    async def group(
        env: tuple[tuple[str, str], ...], hosts: tuple[str, ...], members: list[Scenario]
    ) -> None:
        if env and isinstance(target, UrlTarget):
            for r in _url_skips(env, members):
                done(r.scenario, r)
            return
        copies = 1 if isinstance(target, UrlTarget) else max(1, min(instances, len(members)))
        made = _harnesses(
            target,
            env,
            copies=copies,
            out_dir=out_dir,
            startup_timeout_s=startup_timeout_s,
            numbers=numbers,
            allow_hosts=sorted({*allow_hosts, *hosts}),
        )
        records.update(made)
        bots.extend(made.values())
        async with contextlib.AsyncExitStack() as stack:
            harnesses = await enter_all(stack, list(made))
            for h in harnesses:
                records[h].started(h.bot)
            quiet_gc()  # no 30-70 ms full collection in the middle of the calls' 20 ms clock
            # Longest first: the suite then ends about when its longest scenario does.
            queue = sorted(members, key=scenario_weight, reverse=True)
            await asyncio.gather(*(one(harnesses[i % copies], s) for i, s in enumerate(queue)))

    scaled = instances > 1 and not isinstance(target, UrlTarget)
    described = target.description + (f" ({instances} instances)" if scaled else "")
    try:
        await asyncio.gather(*(group(*key, members) for key, members in groups.items()))
    except asyncio.CancelledError:  # the bots are stopped by now (each group's exit stack)
        if on_interrupt is not None:
            partial = SuiteResult(
                _finished(scenarios, results, bots),
                described,
                started_at,
                (time.monotonic() - t0) * 1000,
                bots,
                interrupted=True,
            )
            on_interrupt(partial)
        raise
    ordered = [results[s.id] for s in scenarios]
    return SuiteResult(ordered, described, started_at, (time.monotonic() - t0) * 1000, bots)


def _finished(
    scenarios: Sequence[Scenario], results: dict[str, ScenarioResult], bots: list[BotRecord]
) -> list[ScenarioResult]:
    """Each scenario's result at an interruption; the others skipped, saying why."""
    begun = set().union(*(b.in_flight for b in bots))  # the calls it cancelled
    when = {True: "during its call", False: "before it started"}
    return [
        results.get(s.id)
        or ScenarioResult(s, "skipped", f"not run: the run was interrupted {when[s.id in begun]}")
        for s in scenarios
    ]


def _url_skips(env: tuple[tuple[str, str], ...], members: list[Scenario]) -> list[ScenarioResult]:
    """Scenarios needing a bot started with ``env``: a ``--url`` bot cannot be."""
    names = ", ".join(f"{k}={v}" for k, v in env)
    reason = (
        f"needs the bot started with {names}; a --url bot cannot be. Run it with --app or --cmd."
    )
    return [ScenarioResult(s, "skipped", reason) for s in members]


def _harnesses(
    target: Target,
    env: tuple[tuple[str, str], ...],
    *,
    copies: int,
    out_dir: Path | None,
    startup_timeout_s: float,
    numbers: Iterator[int],
    allow_hosts: Sequence[str],
) -> dict[Harness, BotRecord]:
    """``copies`` harnesses for one bot configuration, each bot's log in ``out_dir/bots/``.

    The logs are numbered from ``numbers``, one count for the whole run.
    """
    made = {}
    for _ in range(copies):
        log = None
        if out_dir is not None and target.starts_process:
            log = out_dir / "bots" / bot_log_name(next(numbers), target.description)
        harness = Harness(
            target,
            bot_env=dict(env),
            startup_timeout_s=startup_timeout_s,
            log_path=log,
            allow_hosts=allow_hosts,
        )
        made[harness] = BotRecord(target.description, dict(env), log)
    return made


# -- a scenario bwsim could not run -------------------------------------------------------


def _errored(
    s: Scenario, exc: Exception, h: Harness, began: float, out_dir: Path | None
) -> ScenarioResult:
    """Scenario ``s`` raised ``exc``: its ``"error"`` result, the traceback kept in its folder."""
    trace = "".join(traceback.format_exception(exc))
    message = str(exc).partition("\n")[0][:500]
    reason = (
        f"bwsim could not run this scenario: {type(exc).__name__}: {message} "
        "(an error in bwsim, not a verdict on the bot; please report it with error.txt)"
    )
    artifacts: dict[str, str] = {}
    if out_dir is not None:
        path = out_dir / s.id / "error.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{s.where}: {s.name}\n\n{trace}", encoding="utf-8")
            artifacts["traceback"] = str(path)
        except OSError as write_error:
            reason += f"; the traceback could not be written to {path}: {write_error}"
    return ScenarioResult(
        s,
        "error",
        reason,
        problems=[reason],
        duration_ms=(time.monotonic() - began) * 1000,
        artifacts=artifacts,
        bot=h.bot.base_url if h.bot is not None else None,
        bot_log=str(h.bot.log_path) if h.bot is not None and h.bot.log_path else None,
        error={"type": type(exc).__name__, "message": str(exc), "traceback": trace},
    )


# -- a bot that died ---------------------------------------------------------------------


async def _bot_gone(bot: RunningBot | None, record: BotRecord, *, during: str = "") -> bool:
    """Whether the bot's process has exited; notes the calls it died during.

    Those are the calls in flight when the exit is first seen, and ``during`` (the call
    that just ended on it).
    """
    if record.exit_code is None:
        code = None if bot is None else await bot.exited()
        if code is None:
            return False
        record.exit_code = code
        record.exited_during.extend(sorted(record.in_flight))
    if during and during not in record.exited_during:
        record.exited_during.append(during)
    return True


def _died_during(r: ScenarioResult, bot: RunningBot | None, record: BotRecord) -> None:
    """Fail ``r`` for what it is: the bot died while its call was in flight."""
    assert record.exit_code is not None
    excerpt = f"; {bot.log_excerpt()}" if bot is not None and bot.log_path else ""
    reason = (
        f"the bot ({record.description}) {describe_exit(record.exit_code)} during this "
        f"call{excerpt}"
    )
    r.status = "failed"
    r.detail = reason
    r.problems.insert(0, reason)
    r.bot_exited = True


def _not_run(s: Scenario, record: BotRecord) -> ScenarioResult:
    """A scenario failed at once: its bot had already exited, so no call was placed."""
    record.not_run.append(s.id)
    log = f"; full log: {record.log}" if record.log is not None else ""
    reason = f"the bot exited earlier ({record.exit}); no call was placed{log}"
    return ScenarioResult(
        s,
        "failed",
        reason,
        problems=[reason],
        bot=record.base_url or None,
        bot_log=None if record.log is None else str(record.log),
        bot_exited=True,
    )
