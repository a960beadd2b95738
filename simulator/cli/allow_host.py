"""``--allow-host HOST``: the outside hosts a bot may reach past bwsim's interception.

Its own module, importing only argparse and :mod:`simulator.rest.hosts`, so light
commands (the Locust router) take it without the rest of the CLI's options.
"""

from __future__ import annotations

import argparse

from simulator.rest.hosts import check_allow_host

__all__ = ["BOT_STARTED_HELP", "add_allow_host"]

BOT_STARTED_HELP = (
    "let a bot bwsim starts (--app/--cmd) reach HOST, e.g. a real speech provider "
    "such as api.deepgram.com (repeatable; *.example.com allows every name under "
    "it). Bandwidth's hosts stay faked; every other host stays refused."
)


def add_allow_host(parser: argparse.ArgumentParser, help_text: str = BOT_STARTED_HELP) -> None:
    """Add ``--allow-host HOST`` (repeatable, into ``allow_hosts``), checked as it is parsed."""
    parser.add_argument(
        "--allow-host",
        dest="allow_hosts",
        action="append",
        default=[],
        type=_allow_host,
        metavar="HOST",
        help=help_text,
    )


def _allow_host(value: str) -> str:
    try:
        return check_allow_host(value)
    except ValueError as exc:  # argparse prints it and exits 2
        raise argparse.ArgumentTypeError(str(exc)) from None
