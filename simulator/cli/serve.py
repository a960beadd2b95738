r"""``bwsim serve``: the fake Bandwidth on loopback for a bot started by hand.

It prints the environment to start the bot with, journals every request the bot makes
(``GET /_bwsim/journal``), and places calls on request::

    curl -s -X POST http://127.0.0.1:PORT/_bwsim/calls \\
         -d '{"url": "http://127.0.0.1:7860", "audio": "simulator/suite/audio/hello.wav"}'

The call runs to its end (so give the client a timeout longer than ``max_call_s``) and
the answer is the call's summary (``"schema": 1``) with ``passed`` and ``problems``
(:mod:`simulator.runner.control_api`). Only loopback bots are called. Ctrl-C stops the
server; the exit code is 1 if the bot sent anything Bandwidth has no route for, or broke
a rule on a call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from simulator.cli.options import EXIT_FAILED, EXIT_OK, Subparsers
from simulator.runner import control_api
from simulator.runner.harness import Harness

__all__ = ["add_parser", "run", "serve"]


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim serve`` and its options to the CLI's subcommands."""
    serve = sub.add_parser(
        "serve",
        help="run the fake OAuth + Voice API (and control API) on loopback",
        description=(
            "Run the fake Bandwidth REST side on loopback for a bot you start yourself. "
            "Prints the environment to give the bot; stops on Ctrl-C."
        ),
    )
    serve.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim serve`` with parsed arguments; returns the exit code."""
    return asyncio.run(serve(args.port))


async def serve(port: int) -> int:
    """Serve the fake Bandwidth on ``port`` until SIGINT/SIGTERM; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Harness(api_port=port) as h:
        control_api.install(h)
        env = control_api.bot_environment(h)
        print(f"bwsim: fake Bandwidth listening on {h.api_base}", flush=True)
        print(f"bwsim: account {h.fake.default_account.account_id}", flush=True)
        print("bwsim: start your bot with this environment:", flush=True)
        for key, value in env.items():
            print(f"export {key}={value}", flush=True)
        print(
            f"bwsim: place a call with POST {h.api_base}{control_api.CALLS_PATH} "
            '{"url": "http://127.0.0.1:7860", "audio": "caller.wav"}',
            flush=True,
        )
        print("bwsim: journal at GET /_bwsim/journal; Ctrl-C to stop", flush=True)
        await stop.wait()
        violations = h.fake.journal.violations
        for v in violations:
            print(f"bwsim: violation {v.kind}: {v.detail}", file=sys.stderr)
        return EXIT_FAILED if violations else EXIT_OK
