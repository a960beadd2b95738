"""``bwsim audit``: the subcommand's options and what it does with them.

Like every module of :mod:`simulator.cli`, it offers :func:`add_parser` and :func:`run`;
``simulator/cli/main.py`` wires it in the same way. It lives in this package because
everything about the audit does.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import sys
from pathlib import Path

from simulator.audit.catalog import CHECKS
from simulator.audit.config import DEFAULT_AUDIO_DIR, AuditConfig
from simulator.audit.model import SCHEMA, AuditReport
from simulator.audit.report import format_table, write_json
from simulator.audit.runner import run_audit
from simulator.cli.options import (
    EXIT_UNUSABLE,
    Subparsers,
    add_allow_host,
    add_target,
    note_allow_hosts,
)
from simulator.cli.signing_options import add_signing_options, signing_from_args
from simulator.errors import ConfigError
from simulator.runner.lifetime import interrupt_on_termination
from simulator.runner.targets import BotCredentials, UrlTarget, parse_target

__all__ = ["add_parser", "run"]


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim audit`` and its options to the CLI's subcommands."""
    ids = ", ".join(c.id for c in CHECKS)
    audit = sub.add_parser(
        "audit",
        help="run the security and conformance battery against a bot",
        description=(
            "Audit a Bandwidth bot: webhook authentication, stream tokens, forged start "
            "frames, barge-in, hang-ups, transfers, and fuzzed start metadata, each check "
            "with its evidence. Exit 0: no check failed (warnings, inconclusive and "
            "unreliable verdicts are listed); 1: a check failed (or, with --strict, "
            "warned, was inconclusive or unreliable); 2: the audit could not be made. "
            f"Checks: {ids}."
        ),
    )
    add_target(audit)
    add_allow_host(audit)
    audit.add_argument("--json", metavar="PATH", help="write the report (schema 1) here")
    audit.add_argument(
        "--only",
        nargs="+",
        metavar="ID",
        default=[],
        help="run only these checks (ids, or areas such as 'webhook')",
    )
    audit.add_argument(
        "--slow", action="store_true", help="also run hangup.on_silence (waits the idle timeout)"
    )
    audit.add_argument(
        "--strict",
        action="store_true",
        help="warnings, inconclusive and unreliable verdicts fail the audit too (exit 1)",
    )
    audit.add_argument(
        "--token-ttl-s",
        type=float,
        default=60.0,
        help="the bot's stream-token lifetime (ws.token_expiry waits it plus 3 s)",
    )
    audit.add_argument(
        "--idle-timeout-s",
        type=float,
        default=300.0,
        help="the bot's idle timeout, for hangup.on_silence (Pipecat's default: 300)",
    )
    audit.add_argument(
        "--fuzz-examples", type=int, default=12, help="generated examples for fuzz.start_metadata"
    )
    audit.add_argument(
        "--fuzz-seed",
        type=int,
        default=None,
        help="hypothesis seed for fuzz.start_metadata (default: HYPOTHESIS_SEED, else random; "
        "the verdict prints the one used)",
    )
    add_signing_options(audit, modes=False)
    defaults = AuditConfig()
    budgets = audit.add_argument_group("budgets (what a caller puts up with)")
    budgets.add_argument(
        "--greeting-budget-ms",
        type=float,
        default=defaults.greeting_budget_ms,
        help="audio.greeting: first audible bot audio after the stream opens",
    )
    budgets.add_argument(
        "--clear-budget-ms",
        type=float,
        default=defaults.clear_budget_ms,
        help="audio.clear_on_barge_in: clear after the caller starts talking over the bot",
    )
    budgets.add_argument(
        "--hangup-budget-s",
        type=float,
        default=defaults.hangup_budget_s,
        help="hangup.on_stream_loss: the bot's hang-up after its stream drops",
    )
    budgets.add_argument(
        "--transfer-budget-s",
        type=float,
        default=defaults.transfer_budget_s,
        help="transfer.request: the transfer after the caller asks for a person",
    )
    audit.add_argument(
        "--audio-dir",
        type=Path,
        default=DEFAULT_AUDIO_DIR,
        help="folder with the caller's lines (hello.wav, person.wav, goodbye.wav, monologue.wav)",
    )
    audit.add_argument("--webhook-path", default="/", help="the bot's call webhook path")
    audit.add_argument(
        "--api-port", type=int, default=0, help="port of the fake Voice API (fix it for --url)"
    )
    audit.add_argument(
        "--max-calls", type=int, default=4, help="simulated calls streaming at once (default 4)"
    )


def _url_credentials(api_port: int) -> BotCredentials:
    """The hand-started bot's secrets; without them the audit cannot be made (exit 2)."""
    credentials = BotCredentials.from_environment()
    if credentials is None or not api_port:
        raise ConfigError(
            "--url: export the BANDWIDTH_CLIENT_ID/SECRET and BANDWIDTH_WEBHOOK_USERNAME/"
            "PASSWORD the bot runs with, start it with BANDWIDTH_OAUTH_URL and "
            "BANDWIDTH_VOICE_API_URL pointing at http://127.0.0.1:PORT, and pass --api-port PORT"
        )
    if not credentials.webhook_username:
        print(
            "bwsim: BANDWIDTH_WEBHOOK_USERNAME/PASSWORD are not set: webhooks go without "
            "credentials and webhook.auth is skipped",
            file=sys.stderr,
        )
    return credentials


def _config(args: argparse.Namespace) -> AuditConfig:
    if args.token_ttl_s <= 0 or args.idle_timeout_s <= 0:
        raise ConfigError("--token-ttl-s and --idle-timeout-s must be positive numbers of seconds")
    if args.fuzz_examples < 1 or args.max_calls < 1:
        raise ConfigError("--fuzz-examples and --max-calls must be at least 1")
    budgets = (
        args.greeting_budget_ms,
        args.clear_budget_ms,
        args.hangup_budget_s,
        args.transfer_budget_s,
    )
    if min(budgets) <= 0:
        raise ConfigError("every budget (--…-budget-ms/-s) must be a positive number")
    return AuditConfig(
        only=tuple(args.only),
        slow=args.slow,
        strict=args.strict,
        token_ttl_s=args.token_ttl_s,
        idle_timeout_s=args.idle_timeout_s,
        fuzz_examples=args.fuzz_examples,
        fuzz_seed=args.fuzz_seed,
        # A failing fuzz example's replay scenario goes next to the report, else here.
        fuzz_out=Path(args.json).parent if args.json else Path.cwd(),
        greeting_budget_ms=args.greeting_budget_ms,
        clear_budget_ms=args.clear_budget_ms,
        hangup_budget_s=args.hangup_budget_s,
        transfer_budget_s=args.transfer_budget_s,
        audio_dir=args.audio_dir,
        webhook_path=args.webhook_path,
        max_calls=args.max_calls,
        signing=signing_from_args(args),
    )


def _write_unusable(path: str | None, message: str) -> None:
    if path:
        import json  # noqa: PLC0415 - only this path needs it

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        doc = {"schema": SCHEMA, "exit_code": EXIT_UNUSABLE, "error": message, "checks": []}
        Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim audit`` with parsed arguments; returns the exit code.

    SIGTERM and SIGHUP stop the audit as Ctrl-C does: the bots are stopped, the table
    (and ``--json``) report the checks that finished, the rest skipped, exit 130.
    """
    with interrupt_on_termination():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        target = parse_target(args.app, args.cmd, args.url)
        note_allow_hosts(args)
        credentials = None
        if isinstance(target, UrlTarget):
            credentials = _url_credentials(args.api_port)
        # The bots' logs go next to the report, in bots/ (temporary files without --json).
        log_dir = Path(args.json).parent / "bots" if args.json else None
        partial: list[AuditReport] = []
        try:
            report = asyncio.run(
                run_audit(
                    target,
                    config,
                    credentials=credentials,
                    api_port=args.api_port,
                    log_dir=log_dir,
                    allow_hosts=args.allow_hosts,
                    on_interrupt=partial.append,
                )
            )
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: report what finished, exit 130
            if not partial:
                raise
            report = partial[0]
    except ConfigError as exc:
        print(f"bwsim: {exc}", file=sys.stderr)
        _write_unusable(args.json, str(exc))
        return EXIT_UNUSABLE
    # Temporary logs (no --json) are gone once their bot stopped, unless it failed.
    kept = tuple(log for log in report.bot_logs if Path(log).exists())
    report = dataclasses.replace(report, bot_logs=kept)
    print(format_table(report, width=shutil.get_terminal_size((100, 24)).columns - 2))
    if args.json:
        write_json(report, Path(args.json))
    if report.interrupted:
        done = sum(r.verdict.detail != "not run: the audit was interrupted" for r in report.results)
        print(
            f"bwsim audit: interrupted after {done} of {len(report.results)} checks; the "
            "others are reported as skipped (not run: the audit was interrupted)",
            file=sys.stderr,
        )
    return report.exit_code
