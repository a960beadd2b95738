"""The user's bot as a child of ``bwsim serve -- COMMAND``: started, streamed, restarted, stopped.

:class:`ChildBot` is one run of the command in its own process group, each line of its
output handed to a callback (serve prints it on stderr with a prefix) and the last lines
kept for the message when it exits on its own. :func:`supervise` keeps a bot running
until serve stops: it restarts the bot when a ``.py`` file under the watched folder
changes (``--reload``, with watchfiles, the watcher uvicorn's own reload uses), and
without ``--reload`` it ends serve with exit 1 when the bot exits by itself. What happens
is said through a callback: this layer prints nothing itself.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shlex
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import watchfiles

from simulator.errors import ConfigError
from simulator.runner.lifetime import (
    STOP_GRACE_S,
    GroupGuard,
    lifeline,
    pdeathsig_preexec,
    stop_group,
)

__all__ = ["ChildBot", "supervise"]

TAIL_LINES = 20
"""How many of the bot's last output lines an exit message shows."""
STOP_TIMEOUT_S = STOP_GRACE_S
"""How long a stopped bot gets between SIGTERM and SIGKILL."""


class ChildBot:
    """One run of the bot's command, in its own process group, each output line to ``on_line``."""

    def __init__(
        self,
        command: Sequence[str],
        env: dict[str, str],
        *,
        on_line: Callable[[str], None],
        tmp_dir: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.tmp_dir = tmp_dir
        """bwsim's temporary folder, removed by the guard if bwsim is killed."""
        self.env = env
        self.on_line = on_line
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._guard: GroupGuard | None = None

    @property
    def pid(self) -> int:
        """The bot's process id (also its process group's)."""
        if self._proc is None:
            raise RuntimeError("the bot has not been started")
        return self._proc.pid

    @property
    def started(self) -> bool:
        """Whether the command was started."""
        return self._proc is not None

    @property
    def returncode(self) -> int | None:
        """The exit code once the bot has exited, else None."""
        return None if self._proc is None else self._proc.returncode

    async def start(self) -> None:
        """Start the command; a command that cannot be run at all is a :class:`ConfigError`."""
        life_fd, life_env = lifeline()  # the bot ends with serve, even if serve is killed
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                env={**self.env, **life_env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped as a whole, deaf to our Ctrl-C
                pass_fds=(life_fd,),
                preexec_fn=pdeathsig_preexec(),
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot start the bot command {shlex.join(self.command)!r}: {exc}; "
                "check the program after `--` exists and runs, e.g. `bwsim serve -- python bot.py`"
            ) from exc
        self._pump = asyncio.create_task(self._copy_output(self._proc))
        try:
            self._guard = await GroupGuard.start(self._proc.pid, self.tmp_dir)
        except BaseException:
            await self.stop()
            raise

    async def _copy_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            self.tail.append(text)
            self.on_line(text)

    async def wait(self) -> int:
        """Wait until the bot has exited and all its output is copied; returns its exit code."""
        if self._proc is None:
            raise RuntimeError("the bot has not been started")
        code = await self._proc.wait()
        if self._pump is not None:
            # Shielded: a cancelled waiter must not cancel the copy another waiter awaits.
            await asyncio.shield(self._pump)
        return code

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Stop the bot's process group: SIGTERM, then SIGKILL to the group after ``timeout_s``."""
        proc = self._proc
        if proc is None:
            return None
        # SIGKILL to the whole group in the end: children of the bot that kept the pipe
        # open are in its group, and the output copy finishes only when they are gone.
        try:
            await stop_group(proc, timeout_s)
        finally:
            if self._guard is not None:
                await self._guard.close()
        return await self.wait()


Batch = set[tuple[watchfiles.Change, str]]


class _Changes:
    """``.py`` changes under a folder, watched from :meth:`start` on (watchfiles)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Our own stop event: awatch sets it when cancelled, and it must not stop serve.
        self._stop = asyncio.Event()
        self._batches: AsyncIterator[Batch] = watchfiles.awatch(
            folder, watch_filter=watchfiles.PythonFilter(), stop_event=self._stop
        )
        self._next: asyncio.Task[Batch | None] | None = None

    async def start(self) -> None:
        """Begin watching; changes made after this returns are seen.

        ``awatch`` registers its watches in the first step of its first ``__anext__``,
        before it hands the waiting to a thread; one turn of the loop runs that step.
        """
        self.next()
        await asyncio.sleep(0)

    async def _batch(self) -> Batch | None:
        try:
            return await anext(self._batches)
        except StopAsyncIteration:
            return None

    def next(self) -> asyncio.Task[Batch | None]:
        """The task that ends with the next batch of changes (None once watching ended)."""
        if self._next is None or self._next.done():
            self._next = asyncio.create_task(self._batch())
        return self._next

    async def close(self) -> None:
        """Stop watching: the watch thread sees the event within its step (50 ms)."""
        self._stop.set()
        if self._next is not None:
            with contextlib.suppress(Exception):
                await self._next


def _shown(batch: Batch, folder: Path | None) -> str:
    """The changed files, relative to the watched folder, at most three."""
    paths = sorted({Path(path) for _, path in batch})
    names = [
        str(p.relative_to(folder)) if folder and p.is_relative_to(folder) else str(p) for p in paths
    ]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _exit_message(bot: ChildBot, code: int) -> str:
    tail = "\n".join(f"  {line}" for line in bot.tail) or "  (it printed nothing)"
    return f"the bot exited on its own with code {code}; the last lines of its output:\n{tail}"


async def supervise(
    command: Sequence[str],
    env: dict[str, str],
    stop: asyncio.Event,
    *,
    say: Callable[[str], None],
    on_line: Callable[[str], None],
    reload_dir: Path | None = None,
    tmp_dir: Path | None = None,
) -> bool:
    """Run the bot until ``stop`` is set; with ``reload_dir``, restart it on ``.py`` changes.

    Returns False if the bot exited on its own without ``--reload`` (the message, with its
    exit code and output tail, has been given to ``say``), True when serve was asked to
    stop. ``say`` gets what serve should tell the user; ``on_line`` each line the bot prints.
    ``tmp_dir`` is serve's temporary folder, removed by the bot's guard if serve is killed.
    With ``--reload`` a bot that exits is restarted at the next change, as uvicorn does.
    """
    changes = None
    if reload_dir is not None:
        changes = _Changes(reload_dir)
        await changes.start()
        say(f"--reload: watching {reload_dir} for changes to .py files")
    bot = ChildBot(command, env, on_line=on_line, tmp_dir=tmp_dir)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await bot.start()
        say(f"bot started (pid {bot.pid}): {shlex.join(command)}")
        exited: asyncio.Future[int] | None = asyncio.ensure_future(bot.wait())
        while True:
            waits: set[asyncio.Future[Any]] = {stopped}
            if exited is not None:
                waits.add(exited)
            changed = changes.next() if changes is not None else None
            if changed is not None:
                waits.add(changed)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if stopped.done():
                return True
            if exited is not None and exited.done():
                code = exited.result()
                exited = None
                if changes is None:
                    say(_exit_message(bot, code))
                    return False
                say(_exit_message(bot, code) + "\n--reload: restarting it on the next change")
            if changed is not None and changed.done():
                batch = changed.result()
                if batch is None:  # watching ended, which only a stop does
                    await stopped
                    return True
                say(f"--reload: {_shown(batch, reload_dir)} changed; restarting the bot")
                await bot.stop()
                bot = ChildBot(command, env, on_line=on_line, tmp_dir=tmp_dir)
                await bot.start()
                say(f"bot started (pid {bot.pid}): {shlex.join(command)}")
                exited = asyncio.ensure_future(bot.wait())
    finally:
        stopped.cancel()
        if bot.started:
            running = bot.returncode is None
            stopped_code = await bot.stop()  # also when it exited: what it left in its group goes
            if running:
                say(f"bot stopped (pid {bot.pid}, exit code {stopped_code})")
        if changes is not None:
            await changes.close()
