"""``bwsim load``: the options, the progress bar, the table and the report file.

The run itself (placing the calls, judging them, the report's data) is
:mod:`simulator.runner.load`; this module turns the options into its arguments and
prints what it returns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from simulator.call.audio_files import load_caller_audio
from simulator.call.options import DEFAULT_MAX_CALL_S, CallOptions
from simulator.call.pacer import request_realtime
from simulator.cli.options import EXIT_FAILED, EXIT_OK, Subparsers, add_audio, add_target
from simulator.errors import ConfigError
from simulator.runner.bot_env import NO_WEBHOOK_CREDENTIALS
from simulator.runner.lifetime import interrupt_on_termination
from simulator.runner.load import CallRecord, loop_factory, run_load
from simulator.runner.load_workers import run_load_processes
from simulator.runner.targets import BotCredentials, UrlTarget, parse_target

__all__ = ["Progress", "add_parser", "run"]


class Progress:
    """A one-line progress bar on a terminal; a line every tenth of the run otherwise."""

    def __init__(self, total: int, out: TextIO = sys.stderr) -> None:
        self.total, self.out = total, out
        self.done = self.failed = 0
        self._tty = out.isatty()
        self._last_decile = -1

    def update(self, record: CallRecord) -> None:
        """Count one finished call and redraw."""
        self.done += 1
        self.failed += not record.passed
        width = 30
        filled = width * self.done // self.total
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} calls, "
            f"{self.failed} failed"
        )
        if self._tty:
            end = "\n" if self.done == self.total else ""
            print("\r" + line, end=end, file=self.out, flush=True)
            return
        decile = 10 * self.done // self.total
        if decile != self._last_decile:
            self._last_decile = decile
            print(line, file=self.out, flush=True)


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim load`` and its options to the CLI's subcommands."""
    load = sub.add_parser(
        "load",
        help="many calls to one bot, C at a time: setup success and latency percentiles",
        description=(
            "Place --calls calls to one bot, --concurrency at a time, each a whole call "
            "checked as `bwsim call` checks it plus the audio metrics (a bot that never "
            "speaks or never answers fails the call). Prints a table of call-setup success "
            "and latency percentiles, then the timing health: how late bwsim's own frames "
            "left and the CPU each worker used, with a verdict on whether the bot's "
            "latencies can be trusted. --processes spreads the calls over worker "
            "processes (default: every core available). --json writes the report (schema "
            "1). Exit 0: every call passed; 1: some failed (or a worker failed, or "
            "--require-trustworthy and the timing was not); 2: the run could not be made."
        ),
    )
    add_target(load)
    add_audio(load, "each caller")
    load.add_argument("--calls", type=int, default=10, help="how many calls (default 10)")
    load.add_argument("--concurrency", type=int, default=2, help="calls at a time (default 2)")
    load.add_argument("--json", default=None, help="write the report (schema 1) here")
    load.add_argument("--api-port", type=int, default=0, help="port of the fake Voice API")
    load.add_argument(
        "--linger-ms", type=float, default=1500, help="hang up after the bot is quiet this long"
    )
    load.add_argument(
        "--max-seconds", type=float, default=DEFAULT_MAX_CALL_S, help="longest call allowed"
    )
    load.add_argument(
        "--greeting-wait-ms", type=float, default=5000, help="longest wait for the greeting"
    )
    load.add_argument(
        "--reply-wait-ms", type=float, default=10_000, help="longest wait for the answer"
    )
    load.add_argument(
        "--processes",
        type=int,
        default=None,
        help="worker processes placing the calls, each with its own event loop and share of "
        "the calls and of --concurrency (default: the cores available to bwsim, never more "
        "than --concurrency; 1: one loop in this process)",
    )
    load.add_argument(
        "--require-trustworthy",
        action="store_true",
        help="exit 1 when the timing health says the generator was overloaded (default: "
        "a warning; the exit code says whether the calls passed)",
    )
    load.add_argument(
        "--realtime",
        action="store_true",
        help="run bwsim under SCHED_FIFO (root or CAP_SYS_NICE) so a busy machine does not "
        "delay its frames; the bot is not affected",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim load`` with parsed arguments; returns the exit code.

    SIGTERM and SIGHUP stop the run as Ctrl-C does: the bot is stopped, exit 130.
    """
    with interrupt_on_termination():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    # Before anything starts: a bad file, or a stereo one without --channel, is exit 2.
    voice = load_caller_audio(args.audio, args.channel)
    if args.calls < 1 or args.concurrency < 1:
        raise ConfigError(
            f"--calls and --concurrency must be at least 1 (got {args.calls}, {args.concurrency})"
        )
    target = parse_target(args.app, args.cmd, args.url)
    if args.realtime and not request_realtime():
        print("bwsim: --realtime: SCHED_FIFO was refused (needs root or CAP_SYS_NICE); "
              "running with normal scheduling", file=sys.stderr)  # fmt: skip
    credentials = BotCredentials.from_environment() if isinstance(target, UrlTarget) else None
    if credentials is not None and not credentials.webhook_username:
        print(f"bwsim: {NO_WEBHOOK_CREDENTIALS}", file=sys.stderr)
    processes = available_cores() if args.processes is None else args.processes
    if processes < 1:
        raise ConfigError(f"--processes must be at least 1 (got {processes})")
    progress = Progress(args.calls)
    common: dict[str, Any] = {
        "calls": args.calls,
        "concurrency": args.concurrency,
        "options": CallOptions(max_call_s=args.max_seconds),
        "linger_ms": args.linger_ms,
        "greeting_wait_ms": args.greeting_wait_ms,
        "reply_wait_ms": args.reply_wait_ms,
        "api_port": args.api_port,
        "credentials": credentials,
        "on_call": progress.update,
    }

    def started(number: int, pid: int) -> None:
        print(f"bwsim: load worker {number} started (pid {pid})", file=sys.stderr, flush=True)

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if min(processes, args.calls, args.concurrency) == 1:
            report = runner.run(run_load(target, voice, **common))
        else:
            report = runner.run(
                run_load_processes(
                    target,
                    voice,
                    processes=processes,
                    realtime=args.realtime,
                    on_worker=started,
                    **common,
                )
            )
    print(report.table())
    for record in report.records:
        if not record.passed:
            print(
                f"bwsim: FAIL call-{record.index} ({record.call_id}): {record.detail}",
                file=sys.stderr,
            )
    for problem in report.unattributed:
        print(f"bwsim: FAIL {problem}", file=sys.stderr)
    for worker in report.failed_workers:
        print(f"bwsim: FAIL worker {worker.worker}: {worker.error}", file=sys.stderr)
    if not report.trustworthy:
        print(f"bwsim: WARNING {report.verdict()}", file=sys.stderr)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_dict(), indent=1, default=str) + "\n", "utf-8")
    if args.require_trustworthy and not report.trustworthy:
        return EXIT_FAILED
    return EXIT_OK if report.ok else EXIT_FAILED


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), the default of --processes."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
