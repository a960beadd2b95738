r"""``bwsim serve``: the fake Bandwidth on loopback for a bot started by hand, or by serve.

Its first lines on stdout are shell ``export NAME=value`` lines: the credentials, the
``BANDWIDTH_*`` URLs, ``BWSIM_CONTROL_URL`` and ``BWSIM_CONTROL_TOKEN``, and
``PYTHONPATH``/``BWSIM_INTERCEPT``, which make a Python bot started with them send its
hard-coded ``https://api.bandwidth.com`` and ``https://voice.bandwidth.com`` requests to
the fake and refuse every other host but those ``--allow-host`` names (a real speech
provider, with ``BWSIM_STANDINS=0``). They end
with the comment line :data:`READY_LINE`; nothing else goes to stdout, and serve is
already answering when they appear. ``--env-file PATH`` writes the same lines to a file
(atomically, so a script can wait for it to exist) and removes it when serve stops.

Everything else goes to stderr: what to do next, the requests the bot was refused as
they happen, and the bot's own output when serve runs it (``bwsim serve -- COMMAND``,
restarted on ``.py`` changes with ``--reload``). That bot starts in a clean environment,
as the bots ``run``/``call``/``audit`` start do (:func:`~simulator.runner.bot_env.inherited_env`:
the allowlist and what ``--pass-env NAME`` names), plus the exports. Calls are placed on request::

    curl -s -X POST "$BWSIM_CONTROL_URL/calls" \\
         -H "Authorization: Bearer $BWSIM_CONTROL_TOKEN" -H "Content-Type: application/json" \\
         -d '{"url": "http://127.0.0.1:7860", "audio": "bwsim:audio/hello.wav"}'

Every ``/_bwsim/*`` request needs that token, a loopback ``Host`` and, for a POST, JSON
(:mod:`simulator.rest.control_guard`): a web page open in the developer's browser cannot
use the control API. The token is new each time serve starts.

The call runs to its end (so give the client a timeout longer than ``max_call_s``) and
the answer is the call's summary (``"schema": 1``) with ``passed`` and ``problems``
(:mod:`simulator.runner.control_api`). Only loopback bots are called. Ctrl-C or SIGTERM
stops serve and the bot it runs. The exit code is 1 if the bot sent anything Bandwidth
has no route for, tried to reach another host, broke a rule on a call, or (without
``--reload``) exited on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.cli.allow_host import add_allow_host
from simulator.cli.options import EXIT_FAILED, EXIT_OK, Subparsers, add_pass_env
from simulator.errors import ConfigError
from simulator.rest.control_guard import TOKEN_VAR
from simulator.rest.intercept import child_environment
from simulator.runner import control_api
from simulator.runner.bot_env import bot_variables, inherited_env, passed_env_names
from simulator.runner.bot_process import supervise
from simulator.runner.exports import export_lines, report_refused, write_env_file
from simulator.runner.harness import Harness

__all__ = ["READY_LINE", "add_parser", "run", "serve"]

READY_LINE = "# bwsim serve: ready"
"""The last of the export lines: a script reading serve's stdout waits for it."""
DEFAULT_BOT_PORT = 7860
"""The port of the guide's bot, where calls go when no ``--bot-port`` is given."""


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim serve`` and its options to the CLI's subcommands."""
    serve = sub.add_parser(
        "serve",
        help="run the fake OAuth + Voice API (and control API) for a bot started by hand",
        description=(
            "Run the fake Bandwidth REST side on loopback. The first lines on stdout are "
            "`export NAME=value` lines to start your bot with (eval or source them); with "
            "`-- COMMAND` serve starts the bot itself, in a clean environment: PATH, HOME, "
            "the locale, proxies, bwsim's own BWSIM_* variables and the exports, plus what "
            "--pass-env names (not e.g. OPENAI_API_KEY). Everything else goes to stderr; "
            "Ctrl-C stops serve and the bot."
        ),
    )
    serve.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    serve.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="also write the export lines to PATH (for `source PATH`); removed when serve stops",
    )
    serve.add_argument(
        "--bot-port",
        type=int,
        metavar="PORT",
        help=f"the bot's port: exported as PORT and in PROXY_HOST (default: {DEFAULT_BOT_PORT}, "
        "and PORT is left to the bot)",
    )
    serve.add_argument(
        "--reload",
        action="store_true",
        help="with -- COMMAND: restart the bot when a .py file under the current folder changes",
    )
    add_allow_host(
        serve,
        "let your bot reach HOST past the interception, e.g. a real speech provider such as "
        "api.deepgram.com with BWSIM_STANDINS=0 (repeatable; *.example.com allows every "
        "name under it). Bandwidth's hosts stay faked; every other host stays refused",
    )
    add_pass_env(
        serve,
        "with -- COMMAND: pass the variable NAME of this environment on to the bot "
        "(repeatable; also $BWSIM_PASS_ENV=NAME,NAME). A bot you start yourself keeps "
        "the environment of the shell you start it from",
    )
    serve.add_argument(
        "command",
        nargs="*",
        metavar="-- COMMAND",
        help="the bot's command, run by serve with the environment set (e.g. -- python bot.py)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim serve`` with parsed arguments; returns the exit code."""
    if args.reload and not args.command:
        raise ConfigError(
            "--reload restarts a bot serve runs: give its command after `--`, "
            "e.g. `bwsim serve --reload -- python bot.py`"
        )
    if args.pass_env and not args.command:
        _say(
            "note: --pass-env applies to the bot serve starts (`-- COMMAND`); a bot you "
            "start yourself has the environment of the shell you start it from"
        )
    return asyncio.run(
        serve(
            args.port,
            env_file=args.env_file,
            bot_port=args.bot_port,
            command=list(args.command),
            reload=args.reload,
            allow_hosts=args.allow_hosts,
        )
    )


def bot_exports(h: Harness, bot_port: int | None) -> dict[str, str]:
    """The variables a bot needs (without the interception's), for harness ``h``."""
    return bot_variables(
        h.credentials,
        h.api_base,
        port=bot_port,
        proxy_host=f"127.0.0.1:{bot_port or DEFAULT_BOT_PORT}",
        account_id=h.fake.default_account.account_id,
        api_urls=True,
    )


def _say(message: str) -> None:
    print(f"bwsim: {message}", file=sys.stderr, flush=True)


def _bot_line(line: str) -> None:
    print(f"bot| {line}", file=sys.stderr, flush=True)


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


async def serve(
    port: int,
    *,
    env_file: Path | None = None,
    bot_port: int | None = None,
    command: list[str] | None = None,
    reload: bool = False,
    allow_hosts: Sequence[str] = (),
) -> int:
    """Serve the fake Bandwidth on ``port`` until SIGINT/SIGTERM/SIGHUP; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    _remove(env_file)  # a file from an earlier run names a server that is gone
    async with Harness(api_port=port) as h:
        control_api.install(h)
        env = bot_exports(h, bot_port)
        intercept = child_environment(h.api_base, h.violations_file, allow_hosts=allow_hosts)
        lines = export_lines(env, intercept, READY_LINE)
        if env_file is not None:
            write_env_file(env_file, lines)
        print("\n".join(lines), flush=True)
        _tell(h, env, env_file, command, allow_hosts)
        bot_ok = True
        refused = asyncio.create_task(
            report_refused(h.violations_file, stop, _say, routed_to="the fake")
        )
        try:
            if command:
                # Clean, as for the bots run/call/audit start: the allowlist, --pass-env.
                child_env = {**inherited_env(), **env, **intercept, "PYTHONUNBUFFERED": "1"}
                reload_dir = Path.cwd() if reload else None
                bot_ok = await supervise(
                    command,
                    child_env,
                    stop,
                    say=_say,
                    on_line=_bot_line,
                    reload_dir=reload_dir,
                    tmp_dir=h.violations_file.parent,
                )
            else:
                await stop.wait()
        finally:
            stop.set()
            await refused
            _remove(env_file)
        h.collect_child_violations()
        violations = h.fake.journal.violations
        for v in violations:
            _say(f"violation {v.kind}: {v.detail}")
        code = EXIT_FAILED if violations or not bot_ok else EXIT_OK
        _say(
            f"stopped: {len(violations)} violation(s)"
            + ("" if bot_ok else "; the bot exited on its own")
            + f"; exit code {code}"
        )
        return code


def _tell(
    h: Harness,
    env: dict[str, str],
    env_file: Path | None,
    command: list[str] | None,
    allow_hosts: Sequence[str],
) -> None:
    """Say on stderr where serve listens and what to do next."""
    _say(f"fake Bandwidth listening on {h.api_base} (account {env['BANDWIDTH_ACCOUNT_ID']})")
    if allow_hosts:
        _say(f"the bot may also reach (--allow-host): {', '.join(sorted(set(allow_hosts)))}")
    if command:
        passed = ", ".join(passed_env_names(present=True)) or "nothing"
        _say(
            "starting the bot with the exported environment, clean: passed to it from this "
            f"environment (--pass-env): {passed}"
        )
    elif env_file is not None:
        _say(f"environment written to {env_file}: `source {env_file}` in the bot's shell")
    else:
        _say("copy the export lines above into the shell that starts your bot")
    bot_url = f"http://{env['PROXY_HOST']}"
    _say(
        f"place a call: curl -s -X POST {h.api_base}{control_api.CALLS_PATH} "
        f'-H "Authorization: Bearer ${TOKEN_VAR}" -H "Content-Type: application/json" '
        f'-d \'{{"url": "{bot_url}", "audio": "bwsim:audio/hello.wav"}}\''
    )
    _say(
        f"journal at GET /_bwsim/journal (with the same token: ${TOKEN_VAR} is among the "
        "exports); Ctrl-C to stop"
    )
