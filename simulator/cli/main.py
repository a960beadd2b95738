"""The ``bwsim`` command.

Exit codes (design.md): 0 everything passed; 1 a check or expectation failed; 2 the run
could not be made (bad input, a target that does not start or answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.audit import cli as audit_cli
from simulator.call.audio_files import load_caller_audio
from simulator.call.callers import linger_caller
from simulator.call.pacer import quiet_gc
from simulator.call.session import CallOptions, CallResult
from simulator.cli.run import run_command
from simulator.cli.serve import serve_command
from simulator.errors import ConfigError
from simulator.judge.verdicts import call_problems
from simulator.protocol.codec import Pcm
from simulator.runner import load
from simulator.runner.harness import Harness
from simulator.runner.targets import BotCredentials, UrlTarget, parse_target

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bwsim",
        description="Offline Bandwidth Programmable Voice simulator for Pipecat bots.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the fake OAuth + Voice API (and control API) on loopback",
        description=(
            "Run the fake Bandwidth REST side on loopback for a bot you start yourself. "
            "Prints the environment to give the bot; stops on Ctrl-C."
        ),
    )
    serve.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")

    call = sub.add_parser(
        "call",
        help="place one call to a bot and record what happened",
        description=(
            "Place one inbound call to the bot as Bandwidth would: webhook, BXML, media "
            "stream. The caller says the audio file, waits until the bot has been quiet "
            "for --linger-ms, and hangs up. Writes call.wav (caller left, bot right), "
            "trace.jsonl, timeline.json and summary.json to --out."
        ),
    )
    _add_target(call)
    call.add_argument("--audio", required=True, help="what the caller says (WAV/FLAC/OGG/MP3)")
    call.add_argument("--out", default=None, help="artifact folder (default bwsim-out/CALL_ID)")
    call.add_argument("--json", default=None, help="also write the summary (schema 1) here")
    call.add_argument(
        "--api-port", type=int, default=0, help="port of the fake Voice API (fix it for --url)"
    )
    call.add_argument(
        "--linger-ms", type=float, default=2000, help="hang up after the bot is quiet this long"
    )
    call.add_argument("--max-seconds", type=float, default=60, help="longest call allowed")
    call.add_argument(
        "--auth",
        default="challenge",
        choices=["challenge", "preemptive", "wrong", "wrong_username", "none", "scheme"],
        help="how the webhook authenticates (default: Bandwidth's challenge flow)",
    )
    call.add_argument("--webhook-path", default="/", help="the bot's call webhook path")
    _add_run(sub)
    audit_cli.add_parser(sub, _add_target)
    load.add_parser(sub, _add_target)
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run scenario files against a bot (default: the bundled suite and bot)",
        description=(
            "Run scenario files (YAML; files or folders) against the bot, independent calls "
            "at once. With no paths: the bundled scenarios/ against the bundled bot. Writes "
            "the JSON report (schema 1), JUnit XML and, per scenario, call.wav, trace.jsonl, "
            "timeline.json, summary.json and timeline.png under --out."
        ),
    )
    run.add_argument("paths", nargs="*", metavar="SCENARIO_FILE_OR_DIR")
    _add_target(run)
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
    run.add_argument("--list", action="store_true", help="check the files, list, do not run")


def _add_target(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (default: --app bot.app:app)")
    group.add_argument("--app", metavar="MODULE:ATTR", help="ASGI app bwsim serves with uvicorn")
    group.add_argument("--cmd", metavar="COMMAND", help="command bwsim starts (it gets $PORT)")
    group.add_argument("--url", metavar="URL", help="a bot already running (http://HOST:PORT)")


async def _place(args: argparse.Namespace, voice: Pcm) -> CallResult:
    target = parse_target(args.app, args.cmd, args.url)
    credentials = BotCredentials.from_environment() if isinstance(target, UrlTarget) else None
    options = CallOptions(
        auth_mode=args.auth, webhook_path=args.webhook_path, max_call_s=args.max_seconds
    )
    if credentials is not None and not credentials.webhook_username:
        print(
            "bwsim: BANDWIDTH_WEBHOOK_USERNAME/PASSWORD are not set: the webhook is sent "
            "without credentials",
            file=sys.stderr,
        )
        options.auth_mode = "none"
    async with Harness(target, api_port=args.api_port, credentials=credentials) as h:
        if isinstance(target, UrlTarget):
            account = h.fake.default_account.account_id
            print(f"bwsim: fake Voice API at {h.api_base} (account {account})", flush=True)
        quiet_gc()  # no 30-70 ms full collection in the middle of the call's 20 ms clock
        return await h.place_call(linger_caller(voice, args.linger_ms), options=options)


def _call(args: argparse.Namespace) -> int:
    voice = load_caller_audio(args.audio)  # before anything starts: a bad file is exit 2
    result = asyncio.run(_place(args, voice))
    out = Path(args.out) if args.out else Path("bwsim-out") / result.call_id
    paths = result.write(out)
    metrics = result.metrics
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.summary(), indent=1, default=str) + "\n")
    for event in result.timeline:
        if event.kind not in ("verb", "stream-connecting", "api-request"):
            print(event.describe())
    for line in metrics.describe():
        print(f"bwsim: {line}")
    # Conversational figures are reported, not judged here: the exit code stays about
    # Bandwidth's rules (bwsim load and scenario expectations judge them).
    for failure in metrics.failures():
        print(f"bwsim: note: {failure}", file=sys.stderr)
    problems = call_problems(result)
    print(f"bwsim: recording {paths['wav']}, trace {paths['trace']}")
    for problem in problems:
        print(f"bwsim: FAIL {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bwsim`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return asyncio.run(serve_command(args.port))
        if args.command == "call":
            return _call(args)
        if args.command == "run":
            return run_command(args)
        if args.command == "audit":
            return audit_cli.main(args)
        if args.command == "load":
            return load.command(args, credentials=BotCredentials.from_environment)
    except ConfigError as exc:
        print(f"bwsim: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return EXIT_FAILED
    return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
