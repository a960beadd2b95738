"""``bwsim call``: place one call to a bot, write its artifacts, print what happened.

The exit code is about Bandwidth's rules only: a violation, an error or an undelivered
webhook fails the call; the conversational figures are printed as notes, not judged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from simulator.call.audio_files import load_caller_audio
from simulator.call.callers import linger_caller, turns_caller
from simulator.call.live import DTMF_GAP_MS
from simulator.call.options import DEFAULT_MAX_CALL_S, CallOptions
from simulator.call.outbound import DEFAULT_CREATE_WITHIN_S, OutboundTrigger
from simulator.call.pacer import quiet_gc
from simulator.call.result import CallResult
from simulator.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    add_allow_host,
    add_audio,
    add_target,
    note_allow_hosts,
)
from simulator.cli.signing_options import add_signing_options, signing_from_args
from simulator.errors import ConfigError
from simulator.judge.scenario_model import TRIGGER_METHODS
from simulator.judge.verdicts import call_problems
from simulator.protocol.codec import Pcm
from simulator.protocol.create_call import CALLEE_ANSWERS, CalleePlan
from simulator.protocol.gather import check_digits
from simulator.protocol.transfer import (
    DEFAULT_TALK_MS,
    TRANSFER_ANSWERS,
    TRANSFER_STREAMS,
    TransferParty,
)
from simulator.protocol.wire import DEFAULT_WIRE, WIRES
from simulator.replay.turns import split_turns
from simulator.runner.bot_env import NO_WEBHOOK_CREDENTIALS
from simulator.runner.harness import Harness
from simulator.runner.lifetime import interrupt_on_termination
from simulator.runner.targets import (
    BotCredentials,
    Target,
    UrlTarget,
    bot_log_name,
    parse_target,
)

__all__ = ["add_parser", "outbound_trigger", "run"]


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim call`` and its options to the CLI's subcommands."""
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
    add_target(call)
    add_allow_host(call)
    add_audio(call, "the caller")
    call.add_argument("--out", default=None, help="artifact folder (default bwsim-out/CALL_ID)")
    call.add_argument("--json", default=None, help="also write the summary (schema 1) here")
    call.add_argument(
        "--api-port", type=int, default=0, help="port of the fake Voice API (fix it for --url)"
    )
    call.add_argument(
        "--linger-ms", type=float, default=2000, help="hang up after the bot is quiet this long"
    )
    call.add_argument(
        "--turns",
        action="store_true",
        help="cut --audio into the caller's turns where it is silent (the metrics' "
        "definition of a turn) and say each once the bot has answered the one before, "
        "instead of the whole file at once",
    )
    call.add_argument(
        "--max-seconds", type=float, default=DEFAULT_MAX_CALL_S, help="longest call allowed"
    )
    call.add_argument(
        "--auth",
        default="challenge",
        choices=["challenge", "preemptive", "wrong", "wrong_username", "none", "scheme"],
        help="how the webhook authenticates (default: Bandwidth's challenge flow)",
    )
    call.add_argument("--webhook-path", default="/", help="the bot's call webhook path")
    call.add_argument(
        "--wire",
        default=DEFAULT_WIRE,
        choices=list(WIRES),
        help="the form of the media-stream frames: observed (what a live Bandwidth stream "
        "carried: eventType last, encoding PCMU; the default), documented (Bandwidth's 2023 "
        "page: eventType first, encoding audio/PCMU) or numeric-account (accountId a number)",
    )
    call.add_argument(
        "--disconnect-path",
        default=None,
        type=_path,
        help="send the disconnect webhook here when the call ends (the application's "
        "CallStatusCallbackUrl, e.g. /status); none is sent without it",
    )
    call.add_argument(
        "--dtmf",
        default=None,
        metavar="KEYS",
        type=_dtmf_keys,
        help="DTMF keys the caller presses once (e.g. 1234#): when a <Gather> starts before "
        "any stream, else after the bot's greeting",
    )
    call.add_argument(
        "--dtmf-gap-ms",
        type=float,
        default=DTMF_GAP_MS,
        help=f"time from one key to the next (default {DTMF_GAP_MS:g})",
    )
    transfer = call.add_argument_group(
        "transfers",
        "what the people the bot's <Transfer> dials do (docs/bandwidth.md §2.7, §5.5)",
    )
    transfer.add_argument(
        "--transfer-answer",
        default="answered",
        choices=list(TRANSFER_ANSWERS),
        help="what each transfer target does once it has rung (default: answered)",
    )
    transfer.add_argument(
        "--transfer-ring-ms", type=float, default=None, help="how long the targets ring first"
    )
    transfer.add_argument(
        "--transfer-talk-ms",
        type=float,
        default=DEFAULT_TALK_MS,
        help=f"how long an answered target talks, then hangs up (default {DEFAULT_TALK_MS:g})",
    )
    transfer.add_argument(
        "--transfer-stream",
        default="ends",
        choices=list(TRANSFER_STREAMS),
        help="the caller's stream during a transfer: ends (the Pipecat guide's account, the "
        "default) or stays (the API reference's)",
    )
    add_signing_options(call)
    outbound = call.add_argument_group(
        "outbound calls",
        "the bot dials out and bwsim is the callee; --audio is what the callee says",
    )
    outbound.add_argument(
        "--outbound-trigger",
        default=None,
        metavar="'[METHOD] PATH'",
        help="make the bot dial with this request (e.g. 'POST /dial'; the method defaults to POST)",
    )
    outbound.add_argument(
        "--outbound-json", default=None, metavar="JSON", help="the trigger request's JSON body"
    )
    outbound.add_argument(
        "--answer",
        default="answered",
        choices=list(CALLEE_ANSWERS),
        help="what the callee does once its phone has rung (default: answered)",
    )
    outbound.add_argument(
        "--ring-ms", type=float, default=None, help="how long the callee's phone rings first"
    )
    outbound.add_argument(
        "--create-within-s",
        type=float,
        default=DEFAULT_CREATE_WITHIN_S,
        help="how long the bot has to create the call after the trigger (default: 10)",
    )


def _dtmf_keys(text: str) -> str:
    try:
        return check_digits(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _path(value: str) -> str:
    """A path on the bot; argparse turns the error into a usage error (exit 2)."""
    if not value.startswith("/"):
        msg = f"must be a path starting with '/', got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def outbound_trigger(args: argparse.Namespace) -> tuple[OutboundTrigger, CalleePlan] | None:
    """The trigger and callee ``--outbound-*`` ask for; None for an inbound call.

    Raises :class:`ConfigError` (exit 2) naming the option that is wrong.
    """
    if args.outbound_trigger is None:
        for flag, given in (("--outbound-json", args.outbound_json), ("--ring-ms", args.ring_ms)):
            if given is not None:
                raise ConfigError(f"{flag} is for outbound calls: add --outbound-trigger")
        return None
    words = args.outbound_trigger.split()
    method, path = ("POST", *words) if len(words) == 1 else [*words, "", ""][:2]
    if (
        len(words) not in (1, 2)
        or not path.startswith("/")
        or method.upper() not in TRIGGER_METHODS
    ):
        raise ConfigError(
            f"--outbound-trigger takes '[METHOD] /PATH' (e.g. 'POST /dial'), got "
            f"{args.outbound_trigger!r}"
        )
    body = None
    if args.outbound_json is not None:
        try:
            body = json.loads(args.outbound_json)
        except ValueError as exc:
            raise ConfigError(f"--outbound-json is not valid JSON: {exc}") from None
    if args.create_within_s <= 0:
        raise ConfigError(f"--create-within-s must be > 0, got {args.create_within_s:g}")
    try:
        callee = CalleePlan(args.answer, args.ring_ms)
    except ValueError as exc:
        raise ConfigError(f"--ring-ms: {exc}") from None
    trigger = OutboundTrigger(
        method=method.upper(), path=path, json=body, create_within_s=args.create_within_s
    )
    return trigger, callee


def transfer_party(args: argparse.Namespace) -> TransferParty:
    """What ``--transfer-*`` say the transfer targets do; ConfigError (exit 2) when wrong."""
    try:
        return TransferParty(args.transfer_answer, args.transfer_ring_ms, args.transfer_talk_ms)
    except ValueError as exc:
        raise ConfigError(f"--transfer-ring-ms/--transfer-talk-ms: {exc}") from None


async def _place(args: argparse.Namespace, voice: Pcm) -> CallResult:
    target = parse_target(args.app, args.cmd, args.url)
    note_allow_hosts(args)
    credentials = BotCredentials.from_environment() if isinstance(target, UrlTarget) else None
    options = CallOptions(
        auth_mode=args.auth,
        webhook_path=args.webhook_path,
        disconnect_path=args.disconnect_path,
        max_call_s=args.max_seconds,
        transfer=transfer_party(args),
        transfer_stream=args.transfer_stream,
        signing=signing_from_args(args),
        wire=args.wire,
    )
    if credentials is not None and not credentials.webhook_username:
        print(f"bwsim: {NO_WEBHOOK_CREDENTIALS}", file=sys.stderr)
        options.auth_mode = "none"
    async with Harness(
        target,
        api_port=args.api_port,
        credentials=credentials,
        allow_hosts=args.allow_hosts,
        log_path=_bot_log(args, target),
    ) as h:
        if isinstance(target, UrlTarget):
            account = h.fake.default_account.account_id
            print(f"bwsim: fake Voice API at {h.api_base} (account {account})", flush=True)
        quiet_gc()  # no 30-70 ms full collection in the middle of the call's 20 ms clock
        if args.turns:
            caller = turns_caller(split_turns(voice), args.linger_ms)
        else:
            caller = linger_caller(
                voice, args.linger_ms, dtmf=args.dtmf, dtmf_gap_ms=args.dtmf_gap_ms
            )
        outbound = outbound_trigger(args)
        if outbound is None:
            result = await h.place_call(caller, options=options)
        else:
            result = await h.place_outbound_call(*outbound, caller, options=options)
        if h.bot is not None and h.bot.log_path is not None:
            print(f"bwsim: bot log {h.bot.log_path}", flush=True)
        return result


def _bot_log(args: argparse.Namespace, target: Target) -> Path | None:
    """Where a bot bwsim starts writes its output: ``bots/`` in ``--out`` (or bwsim-out/)."""
    if not target.starts_process:
        return None
    folder = Path(args.out) if args.out else Path("bwsim-out")
    return folder / "bots" / bot_log_name(1, target.description)


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim call`` with parsed arguments; returns the exit code.

    SIGTERM and SIGHUP stop the call as Ctrl-C does: the bot is stopped, exit 130.
    """
    with interrupt_on_termination():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.turns and args.dtmf:
        raise ConfigError("give --turns or --dtmf, not both: a turn-by-turn caller presses no keys")
    outbound_trigger(args)  # a bad --outbound-* option is exit 2 before anything starts
    transfer_party(args)  # and so is a bad --transfer-* one
    signing_from_args(args)  # and a bad --signing-* one
    # Before anything starts: a bad file, or a stereo one without --channel, is exit 2.
    voice = load_caller_audio(args.audio, args.channel)
    result = asyncio.run(_place(args, voice))
    out = Path(args.out) if args.out else Path("bwsim-out") / (result.call_id or "not-created")
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
