"""The ``bwsim`` command.

Exit codes (design.md): 0 everything passed; 1 a check or expectation failed; 2 the run
could not be made (bad input, a target that does not start or answer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from simulator.errors import ConfigError
from simulator.harness import Harness

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
    return parser


async def _serve(port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Harness(api_port=port) as h:
        env = h.credentials.environment(port=None, proxy_host="127.0.0.1:7860")
        env.update(
            {
                "BANDWIDTH_OAUTH_URL": f"{h.api_base}/api/v1/oauth2/token",
                "BANDWIDTH_VOICE_API_URL": f"{h.api_base}/api/v2",
                "BWSIM_CONTROL_URL": f"{h.api_base}/_bwsim",
            }
        )
        print(f"bwsim: fake Bandwidth listening on {h.api_base}", flush=True)
        print(f"bwsim: account {h.fake.default_account.account_id}", flush=True)
        print("bwsim: start your bot with this environment:", flush=True)
        for key, value in env.items():
            print(f"export {key}={value}", flush=True)
        print("bwsim: journal at GET /_bwsim/journal; Ctrl-C to stop", flush=True)
        await stop.wait()
        violations = h.fake.journal.violations
        for v in violations:
            print(f"bwsim: violation {v.kind}: {v.detail}", file=sys.stderr)
        return EXIT_FAILED if violations else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bwsim`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return asyncio.run(_serve(args.port))
    except ConfigError as exc:
        print(f"bwsim: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return EXIT_FAILED
    return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
