"""Options more than one subcommand shares, and the exit codes every subcommand returns."""

from __future__ import annotations

import argparse
from typing import Protocol, TypeAlias

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNUSABLE", "Subcommand", "Subparsers", "add_target"]

EXIT_OK = 0
"""Everything passed."""
EXIT_FAILED = 1
"""A check or expectation failed."""
EXIT_UNUSABLE = 2
"""The run could not be made: bad input, a target that does not start or answer."""

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
