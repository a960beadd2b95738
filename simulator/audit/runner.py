"""Run the selected checks against one bot, concurrently, and gather a report.

One :class:`~simulator.runner.harness.Harness` serves the fake Bandwidth and starts the bot;
every selected check runs as its own task, bounded by its time limit. A check that
raises is an ``error`` (the audit could not make it), unless the bot process died
meanwhile: that is a finding, so it is a ``failed`` naming the exit code and the end of
the bot's output.

Every check records the machine's load while it ran. A failure that is only a missed
time budget (:func:`~simulator.audit.model.missed`) is run once more, and settled as
:mod:`simulator.runner.machine` says (the policy ``bwsim run``'s scenarios share): missed
again on a loaded machine and near the budget, it is ``unreliable``, else ``failed``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from simulator.audit.catalog import CHECKS, CheckSpec, Selection, select
from simulator.audit.config import AuditConfig, load_lines
from simulator.audit.context import AuditContext
from simulator.audit.model import (
    AuditReport,
    CheckResult,
    Verdict,
    error,
    failed,
    skipped,
    unreliable,
)
from simulator.runner.harness import Harness
from simulator.runner.machine import describe_load, load_span, machine_load, untrusted_miss
from simulator.runner.targets import BotCredentials, Target, bot_log_name, describe_exit

__all__ = ["run_audit"]

MAX_NOTES = 20
"""Violations the fake recorded (unrouted requests, orphaned legs …) kept in the report."""


def _options(config: AuditConfig) -> dict[str, object]:
    return {
        "only": list(config.only),
        "slow": config.slow,
        "strict": config.strict,
        "token_ttl_s": config.token_ttl_s,
        "greeting_budget_ms": config.greeting_budget_ms,
        "clear_budget_ms": config.clear_budget_ms,
        "hangup_budget_s": config.hangup_budget_s,
        "transfer_budget_s": config.transfer_budget_s,
        "idle_timeout_s": config.idle_timeout_s,
        "fuzz_examples": config.fuzz_examples,
    }


async def _attempt(ctx: AuditContext, spec: CheckSpec) -> tuple[Verdict, dict[str, float]]:
    before = machine_load()
    limit = spec.time_limit(ctx.config)
    try:
        async with asyncio.timeout(limit):
            verdict = await spec.run(ctx)
    except TimeoutError:
        verdict = error(f"the check did not finish within {limit:g} s (the audit's own limit)")
    except Exception as exc:  # noqa: BLE001 - one check's crash must not lose the others
        verdict = _crashed(ctx, exc)
    return verdict, load_span(before, machine_load())


async def _run_alone(
    ctx: AuditContext, spec: CheckSpec, others: Sequence[asyncio.Future[CheckResult]]
) -> CheckResult:
    """Run ``spec`` after ``others`` and with no other lone check beside it."""
    if others:
        await asyncio.wait(others)
    async with ctx.alone:
        return await _run_one(ctx, spec)


async def _run_one(ctx: AuditContext, spec: CheckSpec) -> CheckResult:
    if spec.heavy:
        await ctx.calm.wait()
    started = time.monotonic()
    verdict, load = await _attempt(ctx, spec)
    if verdict.budget:
        first, first_load = verdict, load
        ctx.forget_shared()
        verdict, load = await _attempt(ctx, spec)
        verdict.evidence["first_attempt"] = {
            "detail": first.detail,
            "load": first_load,
            "evidence": first.evidence,
        }
        overs = [v.over for v in (first, verdict)]
        if verdict.budget and untrusted_miss(overs, [first_load, load]):
            verdict = unreliable(
                f"missed its time budget twice while the machine was loaded "
                f"({describe_load([first_load, load])}), so the tool cannot tell "
                f"a slow bot from a slow machine; audit again on a quieter machine. Last "
                f"attempt: {verdict.detail}",
                **verdict.evidence,
            )
    return CheckResult(spec.id, spec.title, verdict, (time.monotonic() - started) * 1000, load=load)


def _crashed(ctx: AuditContext, exc: Exception) -> Verdict:
    process = ctx.bot.process
    if process is not None and process.returncode is not None:
        return failed(
            f"the bot process {describe_exit(process.returncode)} during the check: a bad "
            f"input must never take the bot down; full log: {ctx.bot.log_path}",
            bot_output=ctx.bot.log_tail(20),
            bot_log=str(ctx.bot.log_path),
        )
    where = "".join(traceback.format_exception(exc, limit=-3))
    return error(
        f"the check could not be made: {type(exc).__name__}: {exc}", traceback=where[-2000:]
    )


async def _calm_after(ctx: AuditContext, timing: Sequence[asyncio.Future[CheckResult]]) -> None:
    """Let the heavy checks start once every latency-measuring check is done."""
    if timing:
        await asyncio.wait(timing)
    ctx.calm.set()


async def run_audit(
    target: Target,
    config: AuditConfig | None = None,
    *,
    bot_env: dict[str, str] | None = None,
    credentials: BotCredentials | None = None,
    api_port: int = 0,
    startup_timeout_s: float = 60.0,
    log_dir: Path | None = None,
    allow_hosts: Sequence[str] = (),
    on_interrupt: Callable[[AuditReport], None] | None = None,
) -> AuditReport:
    """Start the bot against a fake Bandwidth and run the selected checks.

    The bot's output goes to ``log_dir/1-<target slug>.log`` (a temporary file without
    ``log_dir``); the report names it, and the copy ``webhook.creds_unset`` starts.

    Cancelled (Ctrl-C), it stops the bot, gives ``on_interrupt`` the report of the checks
    that finished, the rest ``skipped`` as interrupted (``AuditReport.interrupted``), and
    goes on being cancelled.

    Raises :class:`~simulator.errors.ConfigError` (exit 2) when the audit cannot be made:
    an unknown check id, an unreadable caller audio file, a bot that does not start.
    """
    cfg = config or AuditConfig()
    selection = select(cfg.only, slow=cfg.slow, signing=cfg.signing is not None)
    lines = load_lines(cfg.audio_dir)
    started = time.monotonic()
    results: dict[str, CheckResult] = {
        spec.id: CheckResult(spec.id, spec.title, skipped(reason), 0.0)
        for spec, reason in selection.skip
    }
    log = None
    if log_dir is not None and target.starts_process:
        log = log_dir / bot_log_name(1, target.description)
    harness = Harness(
        target,
        bot_env=bot_env,
        credentials=credentials,
        api_port=api_port,
        startup_timeout_s=startup_timeout_s,
        log_path=log,
        allow_hosts=allow_hosts,
    )
    notes: tuple[str, ...] = ()
    logs: tuple[str, ...] = (str(log),) if log is not None else ()
    tasks: list[asyncio.Future[CheckResult]] = []
    try:
        async with harness as h:
            ctx = AuditContext(h, cfg, lines, target)
            shared = [spec for spec in selection.run if not spec.alone]
            tasks += [asyncio.ensure_future(_run_one(ctx, spec)) for spec in shared]
            # A check that runs alone starts once all the others are done, one at a time.
            tasks += [
                asyncio.ensure_future(_run_alone(ctx, spec, list(tasks)))
                for spec in [spec for spec in selection.run if spec.alone]
            ]
            timing = [t for t, spec in zip(tasks, shared, strict=False) if spec.timing]
            calm = asyncio.ensure_future(_calm_after(ctx, timing))
            try:
                await asyncio.gather(*tasks)
            finally:
                calm.cancel()
                await ctx.aclose()
                journal = h.fake.journal
                notes = tuple(f"{v.kind}: {v.detail}" for v in journal.violations[:MAX_NOTES])
                bot_log = h.bot.log_path if h.bot else None
                logs = tuple(str(p) for p in (bot_log, *ctx.copy_logs) if p)
    except asyncio.CancelledError:  # the bot is stopped by now (the harness has exited)
        if on_interrupt is not None:
            interrupted = skipped("not run: the audit was interrupted")
            for spec in selection.run:
                results[spec.id] = CheckResult(spec.id, spec.title, interrupted, 0.0)
            _finished(results, tasks)
            report = _report(target, cfg, selection, results, started)
            on_interrupt(dataclasses.replace(report, notes=notes, bot_logs=logs, interrupted=True))
        raise
    _finished(results, tasks)
    report = _report(target, cfg, selection, results, started)
    return dataclasses.replace(report, notes=notes, bot_logs=logs)


def _finished(
    results: dict[str, CheckResult], tasks: Sequence[asyncio.Future[CheckResult]]
) -> None:
    """Put the result of every check that finished into ``results``."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is None:
            results[task.result().id] = task.result()


def _report(
    target: Target, cfg: AuditConfig, chosen: Selection, results: dict[str, CheckResult], t0: float
) -> AuditReport:
    """The report of ``results``, in catalogue order."""
    order = [spec.id for spec in (*chosen.run, *(s for s, _ in chosen.skip))]
    index = {c.id: i for i, c in enumerate(CHECKS)}
    ordered = tuple(results[i] for i in sorted(order, key=index.__getitem__))
    return AuditReport(
        target=target.description,
        results=ordered,
        duration_s=time.monotonic() - t0,
        options=_options(cfg),
        strict=cfg.strict,
    )
