"""No bot outlives bwsim and nothing is left in the temporary folder, however bwsim ends.

The bot (tests/bots/stubborn_bot.py) hangs in its webhook handler and ignores SIGTERM, so
only a SIGKILL to its whole process group ends it. The ``--cmd`` form runs it as one step
of two, so a ``/bin/sh`` wrapper leads the group and exits on SIGTERM while the bot lives
on. Each test gives bwsim a private, empty TMPDIR and checks it is empty at the end.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import site
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simulator.errors import TargetError
from simulator.runner.harness import Harness
from simulator.runner.targets import CmdTarget

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {
    "app": ["--app", "tests.bots.stubborn_bot:app"],
    "cmd": ["--cmd", f"{sys.executable} -m tests.bots.stubborn_bot; exit $?"],
    # One simple command: the shell exec's Python, which is then bwsim's direct child.
    "cmd-exec": ["--cmd", f"{sys.executable} -m tests.bots.stubborn_bot"],
}
# Python without ``site`` (-S) loads no sitecustomize, so no watcher runs in the bot: it
# stands for a bot in another language, which only the group guard ends.
_NO_SITE = (
    f"import sys; sys.path[:0] = {[str(ROOT), *site.getsitepackages()]!r}; import runpy; "
    "runpy.run_module('tests.bots.stubborn_bot', run_name='__main__')"
)
TARGETS["cmd-no-watcher"] = ["--cmd", f"{sys.executable} -S -c {shlex.quote(_NO_SITE)}; exit $?"]
CAP_S = 60.0
"""Longest wait for anything here: only there so a broken build fails instead of hanging."""


def _poll(done: Callable[[], bool], what: str) -> None:
    """Wait until ``done()`` holds; fail (naming ``what``) if it never does."""
    deadline = time.monotonic() + CAP_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {CAP_S:.0f} s waiting for {what}")
        time.sleep(0.05)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for a reaper counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


class Run:
    """One ``bwsim call`` to the stubborn bot, in a fresh folder with a private TMPDIR."""

    def __init__(self, tmp_path: Path, target: str) -> None:
        self.work = tmp_path / "work"
        self.tmpdir = tmp_path / "tmp"
        self.work.mkdir()
        self.tmpdir.mkdir()
        audio = tmp_path / "hello.wav"
        sf.write(audio, np.zeros(8000), 16000)
        self.args = [
            sys.executable,
            "-m",
            "simulator.cli.main",
            "call",
            *TARGETS[target],
            "--audio",
            str(audio),
            "--out",
            str(self.work / "out"),
            "--max-seconds",
            "5",
        ]
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONPATH": pythonpath}

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args,
            cwd=self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for_webhook(self, proc: subprocess.Popen[str]) -> None:
        """Wait until the bot has the webhook (the call is established and hanging)."""
        marker = self.work / "stubborn-bot.webhook"
        _poll(lambda: marker.exists() or proc.poll() is not None, "the bot's webhook")
        assert marker.exists(), f"bwsim ended before the webhook: {proc.communicate()}"

    def bot(self) -> tuple[int, int]:
        """The bot's pid and process group id, as it wrote them."""
        pid, pgid = (self.work / "stubborn-bot.pid").read_text().split()
        return int(pid), int(pgid)

    def assert_nothing_left(self) -> None:
        """The bot and its whole group are gone, and the private TMPDIR is empty."""
        pid, pgid = self.bot()
        _poll(lambda: _gone(pid), f"the bot (pid {pid}) to end")
        _poll(lambda: not _group_members(pgid), f"the bot's group {pgid} to end")
        _poll(lambda: not any(self.tmpdir.iterdir()), f"{self.tmpdir} to be emptied")


@pytest.mark.parametrize("target", ["app", "cmd"])
def test_normal_end_leaves_no_bot(target: str, tmp_path: Path) -> None:
    """A call that ends by itself stops a bot that ignores SIGTERM, its group, its temp files."""
    run = Run(tmp_path, target)
    proc = run.start()
    _, stderr = proc.communicate(timeout=CAP_S * 2)
    assert proc.returncode == 1, stderr  # the webhook was never answered: the call failed
    assert "FAIL" in stderr
    run.assert_nothing_left()


@pytest.mark.parametrize(
    ("target", "sig"),
    [("app", signal.SIGTERM), ("cmd", signal.SIGTERM), ("cmd", signal.SIGHUP)],
)
def test_termination_mid_call_exits_130_and_leaves_no_bot(
    target: str, sig: signal.Signals, tmp_path: Path
) -> None:
    """SIGTERM or SIGHUP to bwsim during a call: exit 130, the bot and temp files gone."""
    run = Run(tmp_path, target)
    proc = run.start()
    try:
        run.wait_for_webhook(proc)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=CAP_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    run.assert_nothing_left()


@pytest.mark.parametrize("target", ["app", "cmd", "cmd-exec", "cmd-no-watcher"])
def test_sigkill_of_bwsim_takes_the_bot_along(target: str, tmp_path: Path) -> None:
    """SIGKILL of bwsim mid-call: the lifeline watcher ends the bot group and removes the tmp."""
    run = Run(tmp_path, target)
    proc = run.start()
    try:
        run.wait_for_webhook(proc)
        assert any(run.tmpdir.iterdir())  # bwsim's temporary folder exists while it runs
        proc.kill()
        proc.communicate(timeout=CAP_S)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    run.assert_nothing_left()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_serve_child_goes_with_serve(sig: signal.Signals, tmp_path: Path) -> None:
    """`bwsim serve -- COMMAND` killed or hung up: its bot's group and temp folder go with it."""
    run = Run(tmp_path, "cmd")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "simulator.cli.main", "serve", "--bot-port", str(port)]
    proc = subprocess.Popen(
        [*args, "--", sys.executable, "-m", "tests.bots.stubborn_bot"],
        cwd=run.work,
        env=run.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid_file = run.work / "stubborn-bot.pid"
        _poll(lambda: pid_file.exists() or proc.poll() is not None, "the bot to start")
        assert pid_file.exists(), proc.communicate()
        proc.send_signal(sig)
        proc.communicate(timeout=CAP_S)
    finally:
        proc.kill()
    # SIGHUP stops serve in order (exit 0: no violation, the bot did not exit by itself).
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
    run.assert_nothing_left()


def test_sigterm_during_start_up_stops_the_starting_bot(tmp_path: Path) -> None:
    """SIGTERM while bwsim waits for a --cmd bot to listen: exit 130, that bot stopped."""
    run = Run(tmp_path, "cmd")
    # Never listens; $$ is the shell that exec's sleep: the pid and the group's id.
    run.args[run.args.index("--cmd") + 1] = "echo $$ $$ > stubborn-bot.pid; exec sleep 1000"
    proc = run.start()
    try:
        pid_file = run.work / "stubborn-bot.pid"
        _poll(lambda: pid_file.exists() or proc.poll() is not None, "the bot to start")
        assert pid_file.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=CAP_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    run.assert_nothing_left()


def test_one_failed_instance_stops_the_others(tmp_path: Path) -> None:
    """`bwsim run --instances 2`: one copy fails to start; the other is stopped, exit 2."""
    run = Run(tmp_path, "cmd")
    # Whichever copy makes the folder first starts (its pid and group written at once);
    # the other exits 1 before listening.
    command = (
        f"mkdir first && echo $$ $$ > stubborn-bot.pid && exec {sys.executable} "
        "-m tests.bots.stubborn_bot"
    )
    args = [*run.args[:3], "run", "--cmd", command, "--instances", "2", "-k", "audio/replay-"]
    proc = subprocess.run(
        [*args, "--out", str(run.work / "out")],
        cwd=run.work,
        env=run.env,
        capture_output=True,
        text=True,
        timeout=CAP_S * 2,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "exited with code 1 before listening" in proc.stderr
    run.assert_nothing_left()


async def _log_of_a_clean_run() -> Path:
    """Start a bot that serves, stop it; its log's path (checked to exist while it ran)."""
    async with Harness(CmdTarget(f"{sys.executable} -m http.server $PORT")) as h:
        assert h.bot is not None and h.bot.log_path is not None
        assert await asyncio.to_thread(h.bot.log_path.is_file)
        return h.bot.log_path


async def _start_a_failing_bot() -> None:
    async with Harness(CmdTarget("echo the bot broke; exit 3")):
        pass


def test_temporary_log_is_removed_unless_the_bot_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an output folder: a bot's log is removed at a clean stop, kept when it failed."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    clean_log = asyncio.run(_log_of_a_clean_run())
    assert not clean_log.exists()
    assert not any(tmp_path.iterdir())

    with pytest.raises(TargetError) as caught:
        asyncio.run(_start_a_failing_bot())
    kept = list(tmp_path.rglob("*.log"))
    assert len(kept) == 1, kept
    assert f"full log: {kept[0]}" in str(caught.value)
    assert "the bot broke" in kept[0].read_text()
