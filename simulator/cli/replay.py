"""``bwsim replay``: play a recorded call (a call archive) against a bot and compare.

bwsim plays Bandwidth, as for ``bwsim call``: the recorded first webhook (fresh ids), the
``start`` frame from the bot's BXML answer now, and the recorded caller's audio, at its
recorded times (``--timing recorded``) or turn by turn (``--timing turns``). It writes the
usual call artifacts and ``comparison.json`` to ``--out`` and prints the comparison: per
caller turn the bot's response latency then (the recording) and now (this run), and the
events then and now (``clear``, hang-up, transfer, who closed the stream).

Exit codes: 0 nothing required changed; 1 a required difference (events by default,
latencies with ``--max-latency-change``) or a broken Bandwidth rule; 2 a bad archive or
setup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from simulator.archive.model import CallArchive
from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.pacer import quiet_gc
from simulator.call.result import CallResult
from simulator.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    add_allow_host,
    add_target,
    note_allow_hosts,
)
from simulator.errors import ConfigError
from simulator.judge.verdicts import call_problems
from simulator.replay.plan import (
    DEFAULT_LINGER_MS,
    DEFAULT_REPLY_TIMEOUT_MS,
    TIMINGS,
    ReplayPlan,
    plan_replay,
)
from simulator.replay.run import Replay, replay_archive
from simulator.replay.scenario_text import scenario_text
from simulator.runner.bot_env import NO_WEBHOOK_CREDENTIALS
from simulator.runner.harness import Harness
from simulator.runner.lifetime import interrupt_on_termination
from simulator.runner.targets import BotCredentials, Target, UrlTarget, bot_log_name, parse_target

__all__ = ["add_parser", "run"]


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim replay`` and its options to the CLI's subcommands."""
    p = sub.add_parser(
        "replay",
        help="play a recorded call (bwsim record's archive) against a bot and compare",
        description=(
            "Play a recorded call against a bot as Bandwidth would (the recorded webhook "
            "with fresh ids, the recorded caller's audio) and compare it with the "
            'recording: "then" is the recorded call, "now" this run. Writes call.wav, '
            "trace.jsonl, timeline.json, summary.json and comparison.json to --out. Exit 0 "
            "when nothing required changed (events: clear, hang-up, transfer, who closed "
            "the stream; latencies with --max-latency-change), 1 otherwise, 2 for a bad "
            "archive."
        ),
    )
    p.add_argument("archive", metavar="ARCHIVE", help="the call's archive folder")
    add_target(p)
    add_allow_host(p)
    p.add_argument(
        "--timing",
        default="recorded",
        choices=list(TIMINGS),
        help="recorded: the caller's audio at its recorded times, whatever the bot does "
        "(the default); turns: each caller turn once the bot has answered the one before, "
        "with the recorded delay",
    )
    p.add_argument("--out", default=None, help="artifact folder (default bwsim-out/replay-CALL_ID)")
    p.add_argument("--json", default=None, help="also write the comparison and the call summary")
    p.add_argument(
        "--max-latency-change",
        type=float,
        default=None,
        metavar="MS",
        help="fail when a turn's response latency changed by more than MS (default: "
        "latencies are reported, not judged)",
    )
    p.add_argument(
        "--api-port", type=int, default=0, help="port of the fake Voice API (fix it for --url)"
    )
    p.add_argument(
        "--linger-ms",
        type=float,
        default=DEFAULT_LINGER_MS,
        help="how much longer than in the recording the caller waits for the bot to hang "
        f"up after its last words (default {DEFAULT_LINGER_MS:g})",
    )
    p.add_argument(
        "--reply-timeout-ms",
        type=float,
        default=DEFAULT_REPLY_TIMEOUT_MS,
        help="--timing turns: longest wait for the bot's reply before the next turn is "
        f"sent anyway (default {DEFAULT_REPLY_TIMEOUT_MS:g})",
    )
    p.add_argument(
        "--write-scenario",
        default=None,
        metavar="FILE",
        help="also write a scenario file that replays this archive (a replay: step) and "
        "expects what the bot did in the recording; keep it as a regression test",
    )
    p.add_argument(
        "--caller-line",
        dest="caller_lines",
        action="append",
        default=[],
        metavar="TEXT",
        help="what the caller says in each turn, in order (repeatable), for a bot on "
        "bwsim's scripted speech-to-text stand-in; a real STT hears the audio",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim replay``; returns the exit code (SIGTERM/SIGHUP stop it as Ctrl-C does)."""
    with interrupt_on_termination():
        return _run(args)


def _check(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--max-latency-change", args.max_latency_change),
        ("--linger-ms", args.linger_ms),
        ("--reply-timeout-ms", args.reply_timeout_ms),
    ):
        if value is not None and value < 0:
            raise ConfigError(f"{flag} must be 0 or more, got {value:g}")


def _run(args: argparse.Namespace) -> int:
    _check(args)
    archive = CallArchive.load(args.archive)  # a bad archive is exit 2 before anything starts
    plan = plan_replay(
        archive,
        timing=args.timing,
        caller_lines=args.caller_lines,
        linger_ms=args.linger_ms,
        reply_timeout_ms=args.reply_timeout_ms,
    )
    if args.write_scenario:
        _write_scenario(Path(args.write_scenario), archive, plan)
    print(f"bwsim: replaying {archive.path} (recorded {archive.recorded_at}), timing {plan.timing}")
    if plan.timing == "turns":
        for step in plan.turns:
            print(f"bwsim: {step.describe()}")
    replay = asyncio.run(_replay(args, archive, plan))
    result = replay.result
    out = Path(args.out) if args.out else Path("bwsim-out") / f"replay-{result.call_id or 'none'}"
    paths = result.write(out)
    data = replay.to_dict()
    (out / "comparison.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if args.json:
        target = Path(args.json)
        target.parent.mkdir(parents=True, exist_ok=True)
        both = {"schema": 1, "comparison": data, "call": result.summary()}
        target.write_text(json.dumps(both, indent=1, default=str) + "\n", encoding="utf-8")
    for event in result.timeline:
        if event.kind not in ("verb", "stream-connecting", "api-request"):
            print(event.describe())
    for key, pair in replay.ids().items():
        print(f"bwsim: {key} {pair['then']} (recorded) -> {pair['now']} (this run)")
    for line in replay.comparison.describe():
        print(f"bwsim: {line}")
    problems = call_problems(result)
    print(f"bwsim: recording {paths['wav']}, comparison {out / 'comparison.json'}")
    for problem in problems:
        print(f"bwsim: FAIL {problem}", file=sys.stderr)
    for d in replay.comparison.required:
        print(f"bwsim: CHANGED {d.text}", file=sys.stderr)
    return EXIT_FAILED if problems or not replay.ok else EXIT_OK


async def _replay(args: argparse.Namespace, archive: CallArchive, plan: ReplayPlan) -> Replay:
    target = parse_target(args.app, args.cmd, args.url)
    note_allow_hosts(args)
    credentials = BotCredentials.from_environment() if isinstance(target, UrlTarget) else None
    if credentials is not None and not credentials.webhook_username:
        print(f"bwsim: {NO_WEBHOOK_CREDENTIALS}", file=sys.stderr)
        plan.options.auth_mode = "none"
    async with Harness(
        target,
        api_port=args.api_port,
        credentials=credentials,
        allow_hosts=args.allow_hosts,
        log_path=_bot_log(args, target),
    ) as h:
        if isinstance(target, UrlTarget):
            print(f"bwsim: fake Voice API at {h.api_base}", flush=True)
        quiet_gc()

        async def place(caller: Caller, options: CallOptions) -> CallResult:
            return await h.place_call(caller, options=options)

        return await replay_archive(
            place, archive, plan, max_latency_change_ms=args.max_latency_change
        )


def _write_scenario(file: Path, archive: CallArchive, plan: ReplayPlan) -> None:
    text = scenario_text(archive, plan, plan.then, file)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--write-scenario {file}: cannot write it ({exc})") from None
    print(f"bwsim: wrote the scenario {file} (run it: bwsim run {file})")


def _bot_log(args: argparse.Namespace, target: Target) -> Path | None:
    if not target.starts_process:
        return None
    folder = Path(args.out) if args.out else Path("bwsim-out")
    return folder / "bots" / bot_log_name(1, target.description)
