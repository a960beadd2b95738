"""``bwsim run``: load scenario files, run them against the bot, report.

Every file is checked (and its audio read) before any bot starts, so a typo'd key or a
missing audio file is exit 2 naming file, line and key, with no call placed. Progress is
one line per finished scenario; the end is a table, the JSON report and JUnit XML.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from simulator.cli.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNUSABLE,
    Subparsers,
    add_allow_host,
    add_target,
    note_allow_hosts,
)
from simulator.errors import ScenarioError, TargetError
from simulator.judge.scenario import Scenario, load_scenarios
from simulator.report.run_report import console_table, progress_line, write_json, write_junit
from simulator.runner.lifetime import interrupt_on_termination
from simulator.runner.suite import ScenarioResult, SuiteResult, run_suite
from simulator.runner.targets import (
    Target,
    UrlTarget,
    bundled_scenarios,
    parse_target,
    passed_env_names,
)

__all__ = ["add_parser", "bundled_scenarios", "run"]

DEFAULT_CONCURRENCY = 8
BUNDLED_BOT_INSTANCES = 2
"""The bundled bot runs as two copies: 8 calls at once on one reference-bot process (every
call's Pipecat pipeline on one event loop) leave it little headroom on a shared 2-core
machine, 4 on each of two leave it enough (benchmarks/README.md, suite.py)."""


def _scale(args: argparse.Namespace, target: Target) -> tuple[int, int]:
    """How many bot copies and calls at once: the options, or the defaults for the target."""
    named = bool(args.app or args.cmd or args.url)
    instances = (
        args.instances if args.instances is not None else (1 if named else BUNDLED_BOT_INSTANCES)
    )
    if instances < 1:
        raise TargetError(f"--instances must be at least 1, got {instances}")
    if instances > 1 and isinstance(target, UrlTarget):
        raise TargetError(
            f"--instances {instances} needs a bot bwsim starts: a --url bot is one server "
            "it did not start. Use --app or --cmd, or drop --instances."
        )
    concurrency = args.concurrency if args.concurrency is not None else DEFAULT_CONCURRENCY
    if concurrency < 1:
        raise TargetError(f"--concurrency must be at least 1, got {concurrency}")
    return instances, concurrency


def _select(scenarios: list[Scenario], pattern: str | None) -> list[Scenario]:
    if pattern is None:
        return scenarios
    chosen = [s for s in scenarios if pattern in s.id]
    if not chosen:
        raise ScenarioError(
            f"-k {pattern!r} matches no scenario id; ids are like {scenarios[0].id!r}",
            path=scenarios[0].path,
        )
    return chosen


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim run`` and its options to the CLI's subcommands."""
    run = sub.add_parser(
        "run",
        help="run scenario files against a bot (default: the bundled suite and bot)",
        description=(
            "Run scenario files (YAML; files or folders) against the bot, independent calls "
            "at once. With no paths: the packaged suite (plus, in a checkout with no target "
            "named, its scenarios/ for the bundled bot). Writes "
            "the JSON report (schema 1), JUnit XML and, per scenario, call.wav, trace.jsonl, "
            "timeline.json, summary.json and timeline.png under --out."
        ),
    )
    run.add_argument("paths", nargs="*", metavar="SCENARIO_FILE_OR_DIR")
    add_target(run)
    add_allow_host(run)
    run.add_argument("--out", default="bwsim-out", help="artifact folder (default bwsim-out)")
    run.add_argument("--json", default=None, help="JSON report (default OUT/report.json)")
    run.add_argument("--junit", default=None, help="JUnit XML (default OUT/junit.xml)")
    run.add_argument(
        "-k", dest="select", default=None, help="only scenarios whose id contains this text"
    )
    run.add_argument(
        "--instances",
        type=int,
        default=None,
        help=(
            "copies of an --app/--cmd bot to start per bot configuration, each with its own "
            "simulator; scenarios are dealt out among them and a call's webhook and stream "
            "reach the same copy (default 2 for the bundled bot, 1 for a bot you name)"
        ),
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="calls at once, over all instances (default 8)",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help=(
            "unreliable scenarios (a time budget missed twice on a loaded machine) fail the "
            "run too (exit 1)"
        ),
    )
    run.add_argument("--list", action="store_true", help="check the files, list, do not run")


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim run`` with parsed arguments; returns the exit code.

    SIGTERM and SIGHUP stop the run as Ctrl-C does: the bots are stopped, the reports
    are written with what finished (the rest skipped, as interrupted), exit 130.
    """
    with interrupt_on_termination():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    named = bool(args.app or args.cmd or args.url)
    paths = [Path(p) for p in args.paths] or bundled_scenarios(bundled_bot=not named)
    scenarios = _select(load_scenarios(paths), args.select)
    target = parse_target(args.app, args.cmd, args.url)
    note_allow_hosts(args)
    instances, concurrency = _scale(args, target)
    if args.list:
        for s in scenarios:
            print(f"{s.id}  ({s.where})")
        return EXIT_OK
    out = Path(args.out)
    files = len({s.path for s in scenarios})
    bots = len({(s.bot_env, s.allow_hosts) for s in scenarios})
    copies = f", {instances} instances of each" if instances > 1 else ""
    print(
        f"bwsim: {len(scenarios)} scenarios from {files} file(s) against {target.description} "
        f"({bots} bot configuration(s){copies}, {concurrency} calls at once)",
        flush=True,
    )
    finished = 0

    def progress(kind: str, scenario: Scenario, result: ScenarioResult | None) -> None:
        nonlocal finished
        if kind == "done" and result is not None:
            finished += 1
            print(progress_line(finished, len(scenarios), result), flush=True)

    partial: list[SuiteResult] = []
    try:
        suite = asyncio.run(
            run_suite(
                scenarios,
                target,
                out_dir=out,
                concurrency=concurrency,
                progress=progress,
                instances=instances,
                allow_hosts=args.allow_hosts,
                on_interrupt=partial.append,
            )
        )
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: report what finished, exit 130
        if not partial:
            raise
        suite = partial[0]
    json_path = write_json(suite, Path(args.json) if args.json else out / "report.json")
    junit_path = write_junit(suite, Path(args.junit) if args.junit else out / "junit.xml")
    print()
    print(console_table(suite))
    logs = f", bot logs in {out / 'bots'}/" if any(b.log for b in suite.bots) else ""
    passed = passed_env_names(present=True)
    print(f"bwsim: passed to the bots from this environment: {', '.join(passed) or 'nothing'}")
    print(f"bwsim: report {json_path}, JUnit {junit_path}, per-scenario artifacts in {out}/{logs}")
    if suite.interrupted:
        print(
            f"bwsim: interrupted: {finished} of {len(scenarios)} scenarios finished; the "
            "others are reported as skipped (not run: the run was interrupted)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if suite.count("skipped") == len(suite.results):
        print("bwsim: FAIL no scenario ran (all were skipped)", file=sys.stderr)
    if suite.count("error"):
        # A harness error: the run could not be made as asked, whatever else passed.
        print(
            f"bwsim: ERROR {suite.count('error')} scenario(s) could not be run (a bwsim "
            "error, traceback in each one's error.txt)",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    unsure = suite.count("unreliable")
    if unsure:
        print(
            f"bwsim: UNSURE {unsure} scenario(s) missed a time budget twice on a loaded machine "
            "(not counted as failures"
            + ("; --strict fails the run" if args.strict else "")
            + "); run them again on a quieter machine",
            file=sys.stderr,
        )
    return EXIT_OK if suite.passed and not (args.strict and unsure) else EXIT_FAILED
