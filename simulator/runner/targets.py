"""The bot under test: an ASGI app, a command, or a URL, and how bwsim starts and stops it.

- ``--app MODULE:ATTR``: bwsim serves the app with uvicorn on a loopback port, in a
  child process (``python -m simulator.runner.serve_app``), so the bot's CPU work never delays
  the simulator's 20 ms media clock and a crashing bot cannot take the harness down.
- ``--cmd "COMMAND"``: bwsim runs the command with ``PORT`` set and waits until the
  port accepts connections.
- ``--url URL``: a bot already running; bwsim only checks that it answers.

For ``--app`` and ``--cmd`` bwsim sets, before the bot starts, the variables of the
guide's ``env.example`` (``PROXY_HOST``, ``PORT``, ``BANDWIDTH_CLIENT_ID``,
``BANDWIDTH_CLIENT_SECRET``, ``BANDWIDTH_WEBHOOK_USERNAME``,
``BANDWIDTH_WEBHOOK_PASSWORD``, ``HUMAN_AGENT_NUMBER``) to generated values, and installs
the request interception (``intercept``) through the bootstrap ``sitecustomize``.

The output (stdout and stderr) of a bot bwsim starts goes to ``Launch.log_path`` (``bwsim
run`` puts it in its output folder, ``OUT/bots/``) or, without one, to a temporary file
that is removed when the bot is stopped, unless the bot failed (it did not start, or it
exited on its own); every message about the bot ends with the last lines of that log and
its path (:meth:`RunningBot.log_excerpt`).

Bots run in a process group of their own and are stopped as a group; they also end when
bwsim ends, however it ends (:mod:`simulator.runner.lifetime`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from simulator.errors import TargetError
from simulator.rest.intercept import child_environment
from simulator.runner.bot_env import (
    ALLOWED_ENV,
    ALLOWED_ENV_PREFIXES,
    PASS_ENV_VAR,
    PROXY_HOST,
    BotCredentials,
    bot_variables,
    inherited_env,
    passed_env_names,
)
from simulator.runner.lifetime import (
    STOP_GRACE_S,
    GroupGuard,
    lifeline,
    pdeathsig_preexec,
    stop_group,
)
from simulator.suite import SCENARIOS_DIR

__all__ = [
    "ALLOWED_ENV",
    "ALLOWED_ENV_PREFIXES",
    "PASS_ENV_VAR",
    "PROXY_HOST",
    "AppTarget",
    "BotCredentials",
    "CmdTarget",
    "Launch",
    "RunningBot",
    "Target",
    "UrlTarget",
    "bot_log_name",
    "bundled_bot",
    "bundled_scenarios",
    "checkout_root",
    "describe_exit",
    "parse_target",
    "passed_env_names",
]


@dataclass
class RunningBot:
    """A started bot: where it listens and how to stop it."""

    base_url: str
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    description: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    temporary_log: bool = False
    """The log is a temporary file of bwsim's: removed at :meth:`stop` unless the bot failed."""
    guard: GroupGuard | None = None
    """The process that ends the bot's group if bwsim dies (``--cmd`` bots)."""
    _stopped: bool = field(default=False, repr=False)

    @property
    def webhook_url(self) -> str:
        """The bot's call webhook (``POST /`` as in the guide)."""
        return self.base_url.rstrip("/") + "/"

    def log_tail(self, lines: int = 30) -> str:
        """The end of the bot's output, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def log_excerpt(self, lines: int = 15) -> str:
        """The last lines of the bot's output, indented, then where the whole of it is.

        What every message about a bot bwsim started ends with, so a user can see at
        once why their bot broke and open the full log.
        """
        if self.log_path is None:
            return ""
        tail = self.log_tail(lines)
        shown = "\n".join(f"    {line}" for line in tail.splitlines()) if tail else "    (empty)"
        return f"last lines of its log:\n{shown}\n  full log: {self.log_path}"

    async def exited(self) -> int | None:
        """The process's exit code if it has ended, else None; never waits for a live one.

        ``returncode`` is set only once the event loop's child watcher has reaped the
        process, a moment after it died. ``waitid`` with ``WNOWAIT`` sees the exit at once
        without reaping it, so a bot that died just now is never taken for a live one.
        """
        proc = self.process
        if proc is None or proc.returncode is not None:
            return None if proc is None else proc.returncode
        try:
            # WNOHANG: returns at once, never blocks the loop.
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # noqa: ASYNC222
        except ChildProcessError:
            return await proc.wait()  # already reaped by the watcher: its result is on its way
        return None if info is None else await proc.wait()

    async def stop(self, timeout_s: float = STOP_GRACE_S, *, failed: bool = False) -> int | None:
        """Stop the bot's process group: SIGTERM, then SIGKILL after ``timeout_s``.

        The SIGKILL goes to the whole group even when the leader has exited
        (:func:`~simulator.runner.lifetime.stop_group`). A temporary log is removed unless
        the bot ``failed`` (its start failed) or had exited on its own before this: then
        the messages that name it still find it. Stopping twice does nothing more.
        """
        proc = self.process
        if proc is None:
            return None
        if self._stopped:
            return proc.returncode
        self._stopped = True
        ended_alone = await self.exited() is not None
        try:
            code = await stop_group(proc, timeout_s)
        finally:
            if self.guard is not None:
                await self.guard.close()
        if self.temporary_log and self.log_path is not None and not (failed or ended_alone):
            self.log_path.unlink(missing_ok=True)
        return code


@dataclass(frozen=True)
class Launch:
    """What a target needs to start a bot against a running fake Bandwidth."""

    credentials: BotCredentials
    api_base: str
    violations_file: Path
    log_path: Path | None = None
    """Where the bot's output (stdout and stderr) goes; None: a new temporary file."""

    extra_env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 30.0
    unset_env: tuple[str, ...] = ()
    """Variables the bot must start without (e.g. its webhook credentials, for the audit)."""
    allow_hosts: tuple[str, ...] = ()
    """Outside hosts the bot may reach (``--allow-host``: real speech providers)."""
    pass_env: tuple[str, ...] = field(default_factory=passed_env_names)
    """Variables of bwsim's environment passed on as they are (``--pass-env NAME``)."""

    def child_env(self, port: int | None) -> dict[str, str]:
        """The bot process's environment, clean: nothing of ours it was not meant to have.

        The allowlist of bwsim's environment and the variables named in ``pass_env``
        (:func:`inherited_env`), bwsim's variables (:func:`bot_variables`), ``extra_env``
        (a scenario's ``bot_env``), then the interception.
        """
        env = inherited_env(self.pass_env)
        env.update(bot_variables(self.credentials, self.api_base, port=port))
        env.update(self.extra_env)
        env.update(
            child_environment(self.api_base, self.violations_file, allow_hosts=self.allow_hosts)
        )
        env.setdefault("PYTHONUNBUFFERED", "1")
        for name in self.unset_env:
            env.pop(name, None)
        return env


class Target:
    """How to get a running bot."""

    description = "bot"
    starts_process = False

    async def start(self, launch: Launch) -> RunningBot:
        """Start (or locate) the bot; raises :class:`TargetError` when it does not answer."""
        raise NotImplementedError


def _log_file(prefix: str, launch: Launch) -> Path:
    """The file the bot's output goes to: ``launch.log_path`` (emptied), or a temporary file.

    The temporary file is made in the harness's temporary folder (where the violations
    file is), which is removed with the harness.
    """
    wanted = launch.log_path
    if wanted is not None:
        wanted.parent.mkdir(parents=True, exist_ok=True)
        wanted.write_bytes(b"")
        return wanted
    folder = launch.violations_file.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"bot-{prefix}-", suffix=".log", dir=folder)
    os.close(fd)
    return Path(name)


def bot_log_name(n: int, description: str) -> str:
    """``<n>-<description slug>.log``: the name of the ``n``-th bot's log in an output folder.

    >>> bot_log_name(1, "--app tests.bots.raw_bot:app")
    '1-app-tests-bots-raw-bot-app.log'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", description.lower()).strip("-")[:60].rstrip("-")
    return f"{n}-{slug or 'bot'}.log"


def describe_exit(code: int) -> str:
    """``exited with code 1``, or ``was killed by signal 9 (SIGKILL)`` for a negative code."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


async def _wait_exit_or(
    proc: asyncio.subprocess.Process, aw: asyncio.Future[bytes]
) -> bytes | None:
    """Wait for ``aw`` unless the process exits first (then return None)."""
    waiter: asyncio.Future[int] = asyncio.ensure_future(proc.wait())
    pending: set[asyncio.Future[int] | asyncio.Future[bytes]] = {waiter, aw}
    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    if aw in done:
        waiter.cancel()
        return aw.result()
    aw.cancel()
    return None


@dataclass
class AppTarget(Target):
    """An ASGI app ``MODULE:ATTR`` that bwsim serves with uvicorn in a child process."""

    spec: str
    cwd: Path | None = None
    starts_process = True

    def __post_init__(self) -> None:
        module, sep, attr = self.spec.partition(":")
        if not sep or not module or not attr:
            raise TargetError(
                f"--app takes MODULE:ATTR (for example bot.app:app), got {self.spec!r}"
            )
        self.description = f"--app {self.spec}"

    async def start(self, launch: Launch) -> RunningBot:
        """Serve the app on 127.0.0.1 port 0 and learn the port through a pipe."""
        read_fd, write_fd = os.pipe()
        life_fd, life_env = lifeline(launch.violations_file.parent, pdeathsig=False)
        env = launch.child_env(0)
        env["BWSIM_READY_FD"] = str(write_fd)
        env.update(life_env)
        log_path = _log_file("app", launch)
        try:
            with log_path.open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "simulator.runner.serve_app",
                    self.spec,
                    env=env,
                    cwd=self.cwd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    pass_fds=(write_fd, life_fd),
                    start_new_session=True,  # no PDEATHSIG: the bootstrap's watcher runs here
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        bot = RunningBot("", proc, log_path, self.description)
        bot.temporary_log = launch.log_path is None
        try:
            await self._wait_ready(bot, proc, read_fd, launch)
        except BaseException:
            # A failed start keeps its log (the error names it); a cancelled one does not.
            await bot.stop()
            raise
        return bot

    async def _wait_ready(
        self, bot: RunningBot, proc: asyncio.subprocess.Process, read_fd: int, launch: Launch
    ) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb")
        )
        try:
            async with asyncio.timeout(launch.startup_timeout_s):
                line = await _wait_exit_or(proc, asyncio.ensure_future(reader.readline()))
        except TimeoutError:
            await bot.stop(failed=True)
            raise TargetError(
                f"{self.description} did not start listening within "
                f"{launch.startup_timeout_s:.0f} s; {bot.log_excerpt()}"
            ) from None
        finally:
            transport.close()
        if line and line.startswith(b"error "):
            # serve_app refused what MODULE:ATTR names (not importable, not an ASGI app).
            await bot.stop()
            raise TargetError(str(json.loads(line[len(b"error ") :])))
        if not line:
            await bot.stop(failed=True)
            raise TargetError(
                f"{self.description} {describe_exit(proc.returncode or 0)} before serving; "
                f"{bot.log_excerpt()}"
            )
        bot.base_url = f"http://127.0.0.1:{int(line.strip())}"


def _pick_port() -> int:
    # ``--cmd`` bots take their port from $PORT, so one must be chosen before they start.
    # The window between closing this socket and the bot binding is unavoidable here; a
    # bot that loses the race fails to start and the error says so.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_for_port(
    port: int, proc: asyncio.subprocess.Process, timeout_s: float, describe: str, bot: RunningBot
) -> None:
    delay = 0.02
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if proc.returncode is not None:
                    raise TargetError(
                        f"{describe} {describe_exit(proc.returncode)} before listening on "
                        f"port {port}; {bot.log_excerpt()}"
                    )
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(delay)
                    delay = min(delay * 1.5, 0.25)
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
    except TimeoutError:
        await bot.stop(failed=True)
        raise TargetError(
            f"{describe} did not listen on $PORT ({port}) within {timeout_s:.0f} s. "
            f"Does it read the PORT environment variable? {bot.log_excerpt()}"
        ) from None


@dataclass
class CmdTarget(Target):
    """A command bwsim starts with ``PORT`` set (run by ``/bin/sh -c``)."""

    command: str
    cwd: Path | None = None
    starts_process = True

    def __post_init__(self) -> None:
        if not self.command.strip():
            raise TargetError('--cmd takes a command line, for example --cmd "python -m bot"')
        self.description = f"--cmd {shlex.quote(self.command)}"

    async def start(self, launch: Launch) -> RunningBot:
        """Run the command and wait until ``$PORT`` accepts connections."""
        port = _pick_port()
        env = launch.child_env(port)
        env.setdefault("HOST", "127.0.0.1")
        life_fd, life_env = lifeline(launch.violations_file.parent)
        env.update(life_env)
        log_path = _log_file("cmd", launch)
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_shell(
                self.command,
                env=env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(life_fd,),
                start_new_session=True,
                preexec_fn=pdeathsig_preexec(),
            )
        bot = RunningBot(f"http://127.0.0.1:{port}", proc, log_path, self.description)
        bot.temporary_log = launch.log_path is None
        try:
            bot.guard = await GroupGuard.start(proc.pid, launch.violations_file.parent)
            await _wait_for_port(port, proc, launch.startup_timeout_s, self.description, bot)
        except BaseException:
            # A failed start keeps its log (the error names it); a cancelled one does not.
            await bot.stop()
            raise
        return bot


@dataclass
class UrlTarget(Target):
    """A bot someone else started; bwsim checks it answers and uses it as it is."""

    url: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"--url takes http://HOST:PORT, got {self.url!r}")
        self.description = f"--url {self.url}"

    async def start(self, launch: Launch) -> RunningBot:
        """Check the URL accepts connections within the timeout."""
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(min(launch.startup_timeout_s, 10.0)):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise TargetError(
                f"nothing answers at {self.url} ({exc or 'timed out'}). Start the bot first, "
                "with the environment `bwsim serve` prints."
            ) from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        base = f"{parts.scheme}://{parts.netloc}"
        return RunningBot(base, None, None, self.description)


def checkout_root() -> Path | None:
    """The bwsim checkout this package runs from (it holds ``bot/`` and ``scenarios/``).

    None for an installed wheel, which carries the package only.
    """
    root = Path(__file__).resolve().parents[2]
    return root if (root / "bot" / "app.py").is_file() else None


def bundled_bot() -> AppTarget:
    """The reference bot of the checkout (``--app bot.app:app``)."""
    root = checkout_root()
    if root is None:
        raise TargetError(
            "no target given and no bundled bot: this bwsim is not run from a checkout. "
            "Name the bot with --app MODULE:ATTR, --cmd COMMAND or --url URL."
        )
    return AppTarget("bot.app:app", cwd=root)


def _short(folder: Path) -> Path:
    with contextlib.suppress(ValueError):
        return folder.relative_to(Path.cwd())  # shorter names in reports
    return folder


def bundled_scenarios(*, bundled_bot: bool = True) -> list[Path]:
    """The scenario folders ``bwsim run`` runs when given no paths.

    Always the packaged suite (:data:`simulator.suite.SCENARIOS_DIR`, scenarios for any
    Bandwidth bot). For the bundled bot of a checkout also the checkout's ``scenarios/``,
    which hold the scenarios that set ``bot_env`` only the reference bot reads.
    """
    folders = [_short(SCENARIOS_DIR)]
    root = checkout_root()
    if bundled_bot and root is not None and (root / "scenarios").is_dir():
        folders.append(_short(root / "scenarios"))
    return folders


def parse_target(app: str | None, cmd: str | None, url: str | None) -> Target:
    """Build the target from the CLI's mutually exclusive options (default: the bundled bot)."""
    given = [x for x in (app, cmd, url) if x]
    if len(given) > 1:
        raise TargetError("give only one of --app, --cmd and --url")
    if app:
        return AppTarget(app)
    if cmd:
        return CmdTarget(cmd)
    if url:
        return UrlTarget(url)
    return bundled_bot()
