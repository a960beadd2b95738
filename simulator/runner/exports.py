"""The shell ``export`` lines a bot started by hand is given, and the requests it was refused.

``bwsim serve`` and the Locust router (``python -m simulator.locust.router``) both print
them and write them to ``--env-file``: the bot's variables and the interception's
``PYTHONPATH``/``BWSIM_INTERCEPT``/``NO_PROXY``
(:func:`simulator.rest.intercept.child_environment`), which make every Python process
started with them send its hard-coded ``https://api.bandwidth.com`` and
``https://voice.bandwidth.com`` requests to bwsim's loopback address, unchanged, and
refuse every other host but those ``--allow-host`` names. The processes append each
request they refused to the interception's violations file; :func:`report_refused` tells
them as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

from simulator.errors import ConfigError
from simulator.rest.intercept import ENV_VAR

__all__ = ["VIOLATIONS_POLL_S", "export_lines", "refusals", "report_refused", "write_env_file"]

VIOLATIONS_POLL_S = 0.2
"""How often the violations file is read for requests the bot was refused."""


def export_lines(
    env: Mapping[str, str], intercept: Mapping[str, str] | None, ready: str
) -> list[str]:
    """``export`` lines for ``sh``/``bash``/``zsh``, values quoted; they end with ``ready``.

    With ``intercept`` (what :func:`~simulator.rest.intercept.child_environment` gives),
    ``BWSIM_INTERCEPT``, ``NO_PROXY``/``no_proxy`` (this process's, plus Bandwidth's hosts
    and loopback: a bot behind an HTTP proxy must not send Bandwidth's requests to it) and
    a ``PYTHONPATH`` with its bootstrap folder first, which keeps whatever the shell that
    evaluates the lines already has.
    """
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    if intercept is not None:
        bootstrap = intercept["PYTHONPATH"].split(os.pathsep)[0]
        for name in (ENV_VAR, "NO_PROXY", "no_proxy"):
            lines.append(f"export {name}={shlex.quote(intercept[name])}")
        lines.append(f'export PYTHONPATH={shlex.quote(bootstrap)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
    lines.append(ready)
    return lines


def write_env_file(path: Path, lines: list[str]) -> None:
    """Write ``lines`` to ``path`` at once (a reader never sees half of them)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.chmod(0o600)  # it may hold the bot's secrets
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--env-file {path}: cannot write it: {exc}") from exc


def refusals(path: Path, done: int) -> tuple[list[dict[str, object]], int]:
    """The records appended to ``path`` after its first ``done`` lines, and the new count."""
    if not path.exists():
        return [], done
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for line in lines[done:]:
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records, len(lines)


async def report_refused(
    path: Path, stop: asyncio.Event, say: Callable[[str], None], routed_to: str
) -> None:
    """Say each request the bot was refused, as its hooks append it to ``path``, until ``stop``.

    ``routed_to`` names where Bandwidth's hosts go (``the fake``, ``the router``).
    """
    done = 0
    while True:
        records, done = refusals(path, done)
        for record in records:
            say(
                f"REFUSED: the bot (pid {record.get('pid')}) tried to reach "
                f"{record.get('host')!r} ({record.get('url')}), outside loopback; "
                f"only Bandwidth's hosts are routed to {routed_to}; to let the bot reach "
                f"that host (a real speech provider, say), restart with --allow-host "
                f"{record.get('host')}"
            )
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(VIOLATIONS_POLL_S):
                await stop.wait()
