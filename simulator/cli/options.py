"""Options more than one subcommand shares, and the exit codes every subcommand returns."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Protocol, TypeAlias

from simulator.call.audio_files import CHANNEL_FORMS, Channel, parse_channel
from simulator.cli.allow_host import add_allow_host
from simulator.runner.targets import PASS_ENV_VAR, passed_env_names

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNUSABLE",
    "Subcommand",
    "Subparsers",
    "add_allow_host",
    "add_audio",
    "add_pass_env",
    "add_target",
    "export_pass_env",
    "note_allow_hosts",
]

EXIT_OK = 0
"""Everything passed."""
EXIT_FAILED = 1
"""A check or expectation failed."""
EXIT_UNUSABLE = 2
"""The run could not be made: bad input, a target that does not start or answer."""
EXIT_INTERRUPTED = 130
"""Interrupted by Ctrl-C (SIGINT), SIGTERM or SIGHUP: 128 + 2, what shells and CI report
for a process ended by SIGINT."""

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: each subcommand's ``add_parser`` adds itself to it."""


class Subcommand(Protocol):
    """What every subcommand module offers (``simulator.cli.run``, ``.call`` …)."""

    def add_parser(self, sub: Subparsers) -> None:
        """Add the subcommand and its options to ``sub``."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the subcommand with parsed arguments; return the exit code."""


def add_target(parser: argparse.ArgumentParser) -> None:
    """Add ``--app``/``--cmd``/``--url``, the bot under test, to a subcommand."""
    group = parser.add_argument_group("target (default: --app bot.app:app)")
    group.add_argument("--app", metavar="MODULE:ATTR", help="ASGI app bwsim serves with uvicorn")
    group.add_argument("--cmd", metavar="COMMAND", help="command bwsim starts (it gets $PORT)")
    group.add_argument("--url", metavar="URL", help="a bot already running (http://HOST:PORT)")
    add_pass_env(
        group,
        "pass the variable NAME of this environment on to a bot bwsim starts (repeatable; "
        "also $BWSIM_PASS_ENV=NAME,NAME). Bots start with a clean environment: PATH, "
        "HOME, the locale, proxies and bwsim's own variables, not e.g. OPENAI_API_KEY",
    )


def add_audio(parser: argparse.ArgumentParser, who: str) -> None:
    """Add ``--audio FILE`` (required) and ``--channel``: what ``who`` says, and which channel."""
    parser.add_argument("--audio", required=True, help=f"what {who} says (WAV/FLAC/OGG/MP3)")
    parser.add_argument(
        "--channel",
        type=_channel,
        default=None,
        metavar="left|right|N",
        help=f"the channel of --audio {who} speaks, for a file of more than one: "
        f"{CHANNEL_FORMS}; a stereo file without it is refused (exit 2)",
    )


def _channel(value: str) -> Channel:
    try:
        return parse_channel(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_pass_env(parser: argparse.ArgumentParser | argparse._ArgumentGroup, text: str) -> None:
    """Add ``--pass-env NAME`` (repeatable), with the subcommand's own help ``text``."""
    parser.add_argument(
        "--pass-env",
        dest="pass_env",
        action="append",
        default=[],
        type=_env_name,
        metavar="NAME",
        help=text,
    )


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a variable name: give the NAME only (--pass-env OPENAI_API_KEY), "
            "the value comes from this environment"
        )
    return value


def export_pass_env(args: argparse.Namespace) -> tuple[str, ...]:
    """Add ``--pass-env`` names to ``$BWSIM_PASS_ENV``, where every bot start reads them.

    Says on stderr which names are not set here (the bot starts without them) and that a
    ``--url`` bot keeps its own environment. Returns the names passed that are set.
    """
    given: list[str] = getattr(args, "pass_env", None) or []
    if given:
        names = dict.fromkeys([*passed_env_names(), *given])
        os.environ[PASS_ENV_VAR] = ",".join(names)
    names_set = passed_env_names(present=True)
    missing = [n for n in given if n not in os.environ]
    if missing:
        print(
            f"bwsim: note: --pass-env {', '.join(missing)}: not set in this environment, "
            "so the bot starts without it",
            file=sys.stderr,
        )
    if given and getattr(args, "url", None):
        print(
            "bwsim: note: --pass-env applies to bots bwsim starts (--app/--cmd); a --url bot "
            "has whatever environment it was started with",
            file=sys.stderr,
        )
    return names_set


def note_allow_hosts(args: argparse.Namespace) -> None:
    """Say on stderr that ``--allow-host`` does nothing for a bot bwsim did not start."""
    if args.allow_hosts and args.url:
        print(
            "bwsim: note: --allow-host applies to bots bwsim starts (--app/--cmd); a --url "
            "bot reaches whatever its own environment lets it reach",
            file=sys.stderr,
        )
