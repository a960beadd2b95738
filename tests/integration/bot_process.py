"""Run ``python -m bot`` as a child process on a port the OS picks, and stop it for sure.

``PORT=0`` makes uvicorn bind an ephemeral port; the port is read back from uvicorn's own
"Uvicorn running on" line, so no free port is guessed. Readiness
is that line, awaited with a timeout. The child is killed in ``finally``. ``free_port``
is only for the tests whose children must be told a port before they start.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

RUNNING_RE = re.compile(r"Uvicorn running on (http://\S+)")
LOOPBACK_BANDWIDTH = {
    # Nothing may leave loopback: a closed local port stands in for Bandwidth.
    "BANDWIDTH_OAUTH_URL": "http://127.0.0.1:9/api/v1/oauth2/token",
    "BANDWIDTH_VOICE_API_URL": "http://127.0.0.1:9/api/v2",
    "BANDWIDTH_CLIENT_ID": "cid",
    "BANDWIDTH_CLIENT_SECRET": "csecret",
}


def free_port() -> int:
    """A loopback port free just now, for a child that must be told its port before it starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OutputWatcher:
    """Reads a child's output in a thread, so the test can wait for a line with a timeout."""

    def __init__(self, proc: subprocess.Popen[str], name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True, name=f"{name}-output")
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
        """The first output line matching ``pattern``; raises if the child exits first."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                msg = f"{self.name} printed no {pattern.pattern!r} within {timeout_s} s"
                raise TimeoutError(msg) from None
            if line is None:
                tail = "".join(self.lines[-20:])
                msg = f"{self.name} exited ({self.proc.wait()}) before {pattern.pattern!r}:\n{tail}"
                raise RuntimeError(msg)
            self.lines.append(line)
            if match := pattern.search(line):
                return match

    def join(self) -> None:
        """Wait for the reader (the child has exited) and close the pipe."""
        self._thread.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def stop(proc: subprocess.Popen[str]) -> None:
    """Terminate the child, and kill it if it does not go."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass(frozen=True)
class BotProcess:
    """A running ``python -m bot``."""

    base_url: str
    startup_s: float
    """From spawning the process to uvicorn listening."""
    output: OutputWatcher


def _spawn(env: dict[str, str]) -> tuple[subprocess.Popen[str], OutputWatcher]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BANDWIDTH_", "BOT_"))}
    full_env = {**base, **LOOPBACK_BANDWIDTH, "PORT": "0", "HOST": "127.0.0.1", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, OutputWatcher(proc, "python -m bot")


@contextmanager
def bot_processes(*envs: dict[str, str], timeout_s: float = 30.0) -> Iterator[list[BotProcess]]:
    """Start one ``python -m bot`` per env (over a clean base), all at once; wait for each."""
    started = time.monotonic()
    children: list[tuple[subprocess.Popen[str], OutputWatcher]] = []
    try:
        for env in envs:
            children.append(_spawn(env))
        running = []
        for _, watcher in children:
            url = watcher.wait_for(RUNNING_RE, timeout_s)[1]
            running.append(BotProcess(url, time.monotonic() - started, watcher))
        yield running
    finally:
        for proc, _ in children:
            stop(proc)
        for _, watcher in children:
            watcher.join()


@contextmanager
def uvicorn_app(app: str, env: dict[str, str], timeout_s: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with ``python -m uvicorn`` on a port it picks; yield its base URL.

    For the tests of a bot started by hand (``--url``). Ready is uvicorn's own "running on"
    line, not a poll of the port; if it never comes, or the child exits first, the test
    fails with the child's output. The child is stopped in ``finally``.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watcher = OutputWatcher(proc, f"uvicorn {app}")
    try:
        yield watcher.wait_for(RUNNING_RE, timeout_s)[1]
    finally:
        stop(proc)
        watcher.join()


@contextmanager
def bot_process(env: dict[str, str], timeout_s: float = 30.0) -> Iterator[BotProcess]:
    """Start ``python -m bot`` with ``env`` (over a clean base) and wait until it listens."""
    with bot_processes(env, timeout_s=timeout_s) as (bot,):
        yield bot
