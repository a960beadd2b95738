"""Bots end when bwsim ends, however it ends.

Every bot bwsim starts runs in a process group of its own (its own session), so a Ctrl-C
in the terminal reaches bwsim only and bwsim stops the bot in order. Four mechanisms make
sure nothing outlives bwsim:

- :func:`stop_group` stops a bot: SIGTERM to its group, a bounded wait, then SIGKILL to
  the whole group even when the leader has already exited (a ``/bin/sh -c`` wrapper that
  ends on SIGTERM leaves the bot it started in the group), and the leader is reaped. The
  SIGKILL is sent even when the wait is cancelled.
- :func:`interrupt_on_termination`: SIGTERM and SIGHUP end ``bwsim run``/``call``/
  ``audit``/``load`` as Ctrl-C does (the running calls are cancelled, the bots stopped,
  and the command exits 130).
- The lifeline (:func:`lifeline`): a pipe whose write end only bwsim holds. Its read end is
  handed to every bot bwsim starts (``$BWSIM_LIFELINE`` names the descriptor), and the
  bootstrap ``sitecustomize`` that bwsim loads into every Python process of a bot starts a
  thread that waits on it. When bwsim dies, even by SIGKILL, the kernel closes the write
  end, the read returns end-of-file, and the thread removes bwsim's temporary folder
  (``$BWSIM_TMP``, which a killed bwsim leaves behind) and SIGKILLs its own process group:
  the bot and everything in its group, a ``sh -c`` wrapper included.
- :class:`GroupGuard`: for ``--cmd`` bots and ``bwsim serve -- COMMAND``, which may be
  any program (or a shell running several), a tiny ``python -S`` process waits on the
  lifeline too and SIGKILLs the bot's group when bwsim is gone, so a Node or Go bot goes
  as well.
- On Linux the process bwsim starts directly for those also gets ``PR_SET_PDEATHSIG`` =
  SIGKILL (:func:`pdeathsig_preexec`), which covers the moment before its guard runs.
  That signal comes when the *thread* that started the process exits, not the process:
  asyncio starts subprocesses from the thread that runs its event loop
  (``subprocess.Popen`` is called there; only the waiting is done on other threads),
  which is the main thread for the CLI and the harness thread of
  :class:`~simulator.runner.background.BackgroundHarness`, and each outlives the bots it
  started. A Python process with the watcher clears it at start-up (the bootstrap), so
  that the watcher, not the kernel's SIGKILL, ends it after removing bwsim's temporary
  folder; ``--app`` bots, always Python with the watcher, do not get it.

Not covered: processes a bot moves out of its group (``setsid``, a daemonising program),
except by the watcher of their own Python interpreter, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

__all__ = [
    "LIFELINE_ENV",
    "STOP_GRACE_S",
    "TMP_ENV",
    "GroupGuard",
    "enter_all",
    "interrupt_on_termination",
    "lifeline",
    "pdeathsig_preexec",
    "stop_group",
]

LIFELINE_ENV = "BWSIM_LIFELINE"
"""``FD:INODE`` of the lifeline's read end in a bot; the bootstrap checks both."""
TMP_ENV = "BWSIM_TMP"
"""bwsim's temporary folder for the bot, removed by the watcher if bwsim could not."""
STOP_GRACE_S = 5.0
"""How long a bot gets between SIGTERM and SIGKILL."""

_PR_SET_PDEATHSIG = 1
_T = TypeVar("_T")
_pipe: tuple[int, int] | None = None


def lifeline(tmp_dir: Path | None = None, *, pdeathsig: bool = True) -> tuple[int, dict[str, str]]:
    """The lifeline's read end (for ``pass_fds``) and the variables that name it.

    ``tmp_dir`` is bwsim's temporary folder for this bot (``$BWSIM_TMP``): the watcher
    removes it when bwsim was killed and could not remove it itself. Its name must start
    with ``bwsim-``; the watcher removes nothing else. ``pdeathsig``: the child is started
    with :func:`pdeathsig_preexec`, which its bootstrap then clears (``$BWSIM_PARENT``).

    One pipe per bwsim process, made on first use; bwsim keeps both ends open until it
    exits. Both are non-inheritable, so no child gets the write end (a child holding it
    would keep the pipe open after bwsim died) and only the bots it is passed to get the
    read end.
    """
    global _pipe  # noqa: PLW0603 - one pipe for the whole process, made once
    if _pipe is None:
        _pipe = os.pipe()
    read_fd = _pipe[0]
    env = {LIFELINE_ENV: f"{read_fd}:{os.fstat(read_fd).st_ino}"}
    if pdeathsig:
        env["BWSIM_PARENT"] = str(os.getpid())
    if tmp_dir is not None and tmp_dir.name.startswith("bwsim-"):
        env[TMP_ENV] = str(tmp_dir)
    return read_fd, env


_GUARD_CODE = """\
import os, sys
fd, pgid, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
try:
    while os.read(fd, 1):
        pass
except OSError:
    sys.exit(0)
if os.path.basename(tmp).startswith("bwsim-"):
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
try:
    os.killpg(pgid, 9)
except OSError:
    pass
"""


class GroupGuard:
    """A small process that SIGKILLs a bot's group when bwsim dies: the lifeline for any bot.

    The bootstrap's watcher runs only in Python processes; a ``--cmd`` bot written in
    another language, or started as one step of a longer shell command, has none. The
    guard (``python -S``: no site, no imports but ``os``) waits on the lifeline like the
    watcher does and, on end-of-file, removes bwsim's temporary folder and SIGKILLs the
    group. It runs in a session of its own and is ended with the bot (:meth:`close`).
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, pgid: int, tmp_dir: Path | None = None) -> GroupGuard:
        """Start guarding process group ``pgid``."""
        life_fd, _ = lifeline()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-S",
            "-c",
            _GUARD_CODE,
            str(life_fd),
            str(pgid),
            str(tmp_dir or ""),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            pass_fds=(life_fd,),
            start_new_session=True,
            env={},
        )
        return cls(proc)

    async def close(self) -> None:
        """End the guard (the bot it guarded is stopped)."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        await self._proc.wait()


def pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGKILL when the starting thread exits (Linux).

    None elsewhere. The function only calls ``prctl`` through a pointer resolved here,
    before the fork, and exits the child at once if bwsim was already gone by then.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigkill = int(signal.SIGKILL)

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # bwsim died between the fork and the prctl
            os._exit(1)

    return set_pdeathsig


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop_group(proc: asyncio.subprocess.Process, timeout_s: float = STOP_GRACE_S) -> int:
    """Stop ``proc``'s process group (``proc`` leads it); returns the leader's exit code.

    SIGTERM to the group, up to ``timeout_s`` for the leader to exit, then SIGKILL to the
    whole group whatever happened: processes left in the group after the leader ended
    (the bot a ``sh -c`` wrapper started, a worker of the bot) must not live on. The
    group's id stays reserved while any member lives, so the SIGKILL cannot reach an
    unrelated process. The SIGKILL is sent even if this coroutine is cancelled.
    """
    try:
        if proc.returncode is None:
            _killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await proc.wait()
    finally:
        _killpg(proc.pid, signal.SIGKILL)
    return await proc.wait()


async def enter_all(
    stack: contextlib.AsyncExitStack, contexts: Sequence[contextlib.AbstractAsyncContextManager[_T]]
) -> list[_T]:
    """Enter ``contexts`` at once on ``stack``; if one fails, the others are cancelled first.

    Every context that was entered is on ``stack`` when this raises, and one cancelled
    half-way (a :class:`~simulator.runner.harness.Harness` starting its bot) stops what it
    had started, so one failed ``--instances`` start leaves no bot running.
    """
    tasks = [asyncio.ensure_future(stack.enter_async_context(c)) for c in contexts]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@contextlib.contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP act as Ctrl-C (SIGINT) does, and SIGINT is heard.

    The handler calls whatever handles SIGINT at that moment: inside ``asyncio.run`` that
    is asyncio's, which cancels the main task (so every ``async with`` stops its bots)
    and then raises :class:`KeyboardInterrupt`; outside, Python's, which raises it at
    once. The CLI turns that into exit 130. Only the main thread can install handlers;
    elsewhere this does nothing.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous: dict[signal.Signals, object] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, handler)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            # Inherited from a parent that ignores it (a `cmd &` in a script, a test
            # runner's worker): Python then leaves SIGINT ignored and asyncio does not
            # take it over, so `kill -INT` would be lost. bwsim stops on it all the same.
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
