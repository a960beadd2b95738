"""``bwsim run``: load scenario files, run them against the bot, report.

Every file is checked (and its audio read) before any bot starts, so a typo'd key or a
missing audio file is exit 2 naming file, line and key, with no call placed. Progress is
one line per finished scenario; the end is a table, the JSON report and JUnit XML.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from simulator.errors import ScenarioError, TargetError
from simulator.judge.scenario import Scenario, load_scenarios
from simulator.report.run_report import console_table, progress_line, write_json, write_junit
from simulator.runner.suite import ScenarioResult, run_suite
from simulator.runner.targets import Target, UrlTarget, checkout_root, parse_target

__all__ = ["bundled_scenarios", "run_command"]

EXIT_OK, EXIT_FAILED = 0, 1
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


def bundled_scenarios() -> Path:
    """The checkout's ``scenarios/`` folder (the suite ``bwsim run`` runs by default)."""
    root = checkout_root()
    folder = root / "scenarios" if root is not None else Path("scenarios")
    with contextlib.suppress(ValueError):
        folder = folder.relative_to(Path.cwd())  # shorter names in reports
    if not folder.is_dir():
        raise ScenarioError(
            "no scenario files given and no bundled scenarios/ folder here; "
            "pass scenario files or folders to bwsim run",
            path=folder,
        )
    return folder


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


def run_command(args: argparse.Namespace) -> int:
    """Run ``bwsim run`` with parsed arguments; returns the exit code."""
    paths = [Path(p) for p in args.paths] or [bundled_scenarios()]
    scenarios = _select(load_scenarios(paths), args.select)
    target = parse_target(args.app, args.cmd, args.url)
    instances, concurrency = _scale(args, target)
    if args.list:
        for s in scenarios:
            print(f"{s.id}  ({s.where})")
        return EXIT_OK
    out = Path(args.out)
    files = len({s.path for s in scenarios})
    bots = len({s.bot_env for s in scenarios})
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

    suite = asyncio.run(
        run_suite(
            scenarios,
            target,
            out_dir=out,
            concurrency=concurrency,
            progress=progress,
            instances=instances,
        )
    )
    json_path = write_json(suite, Path(args.json) if args.json else out / "report.json")
    junit_path = write_junit(suite, Path(args.junit) if args.junit else out / "junit.xml")
    print()
    print(console_table(suite))
    print(f"bwsim: report {json_path}, JUnit {junit_path}, per-scenario artifacts in {out}/")
    if suite.count("skipped") == len(suite.results):
        print("bwsim: FAIL no scenario ran (all were skipped)", file=sys.stderr)
    return EXIT_OK if suite.passed else EXIT_FAILED
