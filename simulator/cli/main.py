"""The ``bwsim`` command: the top-level parser, the dispatch, and the exit codes.

Each subcommand is a module with the same two functions: ``add_parser(subparsers)``
registers its options and ``run(args)`` runs it and returns the exit code. This module
only builds the parser from them, calls the chosen one, and turns the errors that mean
the run could not be made into exit 2.

Exit codes (README.md): 0 everything passed; 1 a check or expectation failed; 2 the run
could not be made (bad input, a target that does not start or answer, or an error in
bwsim itself while running a scenario); 130 interrupted (Ctrl-C), the shell's code for
a process ended by SIGINT.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from simulator.audit import cli as audit
from simulator.cli import call, init, load, record, replay, run, serve
from simulator.cli.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNUSABLE,
    Subcommand,
    export_pass_env,
)
from simulator.errors import ConfigError

__all__ = ["EXIT_INTERRUPTED", "main"]

SUBCOMMANDS: tuple[Subcommand, ...] = (init, serve, call, record, replay, run, audit, load)
"""The subcommands, in the order ``bwsim --help`` lists them."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bwsim",
        description="Offline Bandwidth Programmable Voice simulator for Pipecat bots.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        before = set(sub.choices)
        module.add_parser(sub)
        (name,) = set(sub.choices) - before  # the one subcommand the module added
        sub.choices[name].set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bwsim`` console script."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    export_pass_env(args)  # --pass-env: read wherever a bot is started
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"bwsim: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (simulator.runner.lifetime)
        print("bwsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``bwsim run | head``): no traceback, and no second one when
        # Python flushes stdout at exit (the recipe of the ``signal`` module's docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("bwsim: stopped: the output was closed", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a bug in bwsim is exit 2, said in one line
        if os.environ.get("BWSIM_DEBUG") == "1":
            traceback.print_exc()
        print(
            f"bwsim: internal error, the run could not be made: {type(exc).__name__}: {exc}. "
            "Run again with BWSIM_DEBUG=1 for the traceback, and report it.",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
