"""Locust runs bwsim's calls: a real master, two workers, the router and the reference bot.

Every process is real and on loopback: the router (``python -m simulator.locust.router``),
the bot (uvicorn, its Voice API and control URLs pointing at the router), a Locust master
and two workers running ``examples/locustfile.py``. The run is short; ``--stop-timeout``
lets every call in flight finish, so each call the bot received is one ``call`` sample.
Each test takes 25-35 s on a quiet machine (most of it the bot's start and one whole
call of about 10 s), so they are marked ``e2e``: they run once, in ``nox -s e2e``.
"""

from __future__ import annotations

import csv
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.replay_archives import build_archive, silence, tone

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "examples" / "locustfile.py"
START_S = 60.0
"""Hang guard: the longest any process may take to say it is ready."""
RUN_EXIT_S = 90.0
"""Hang guard: the longest a Locust run may take to end, start-up and shut-down included."""

SECRETS = {
    "BANDWIDTH_CLIENT_ID": "locust-client",
    "BANDWIDTH_CLIENT_SECRET": "locust-secret",
    "BANDWIDTH_ACCOUNT_ID": "9900000",
    "BANDWIDTH_WEBHOOK_USERNAME": "hook",
    "BANDWIDTH_WEBHOOK_PASSWORD": "hook-password",
    "BWSIM_CONTROL_TOKEN": "locust-control-token-0123456789abcdef",
}
CALLER = [
    "--bwsim-greeting-wait-ms=5000",
    "--bwsim-reply-wait-ms=3000",
    "--bwsim-linger-ms=500",
    "--bwsim-max-call-s=30",
]


@dataclass
class Proc:
    """A child process whose merged output is read line by line as it comes."""

    name: str
    popen: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first output line matching ``pattern``; fails clearly if none comes in time."""
        deadline = time.monotonic() + START_S
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                pytest.fail(f"{self.name} said nothing matching {pattern!r} in {START_S:g} s")
            if line is None:
                pytest.fail(f"{self.name} exited before {pattern!r}:\n{self.output()}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def output(self) -> str:
        """Everything it said so far (draining what is queued)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen)

    def exit_code(self) -> int:
        """Wait for it to end on its own; fails clearly if it hangs."""
        try:
            return self.popen.wait(timeout=RUN_EXIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not end in {RUN_EXIT_S:g} s:\n{self.output()}")


@pytest.fixture
def spawn() -> Iterator[object]:
    """Start child processes; any still running at the end of the test is stopped."""
    started: list[Proc] = []

    def start(name: str, *args: str, env: dict[str, str]) -> Proc:
        popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **SECRETS, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        proc = Proc(name, popen)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.terminate()
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        assert proc.reader is not None and proc.popen.stdout is not None
        proc.reader.join(timeout=10)  # the process has ended: its output is at its end
        proc.popen.stdout.close()


def _free_port() -> int:
    # Locust's master takes no port 0 (its workers must be told the port before they start).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _router_and_bot(spawn: object, app: str) -> tuple[str, str, Proc]:
    """Start the router, then the bot ``app`` pointed at it; return both URLs and the bot."""
    router = spawn("router", "-m", "simulator.locust.router", "--port", "0", env={})  # type: ignore[operator]
    router_url = router.wait_for(r"listening on (http://\S+)")[1]
    bot_env = {
        "BANDWIDTH_OAUTH_URL": f"{router_url}/api/v1/oauth2/token",
        "BANDWIDTH_VOICE_API_URL": f"{router_url}/api/v2",
        "BWSIM_CONTROL_URL": f"{router_url}/_bwsim",
        "BWSIM_STANDINS": "1",
        "PROXY_HOST": "bot.bwsim.localhost",
    }
    bot = spawn(  # type: ignore[operator]
        "bot",
        *("-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "0"),
        "--ws=websockets-sansio",
        env=bot_env,
    )
    bot_url = bot.wait_for(r"Uvicorn running on (http://\S+)")[1]
    return router_url, bot_url, bot


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _calls_the_bot_got(bot: Proc) -> set[str]:
    bot.popen.terminate()
    bot.popen.wait(timeout=10)
    return set(re.findall(r"call (c-[0-9a-f]{8}-\S+): initiate webhook", bot.output()))


def test_master_and_two_workers_report_every_call_by_name(spawn: object, tmp_path: Path) -> None:
    """Two workers call the reference bot: every call is a `call` sample, each figure a row."""
    router_url, bot_url, bot = _router_and_bot(spawn, "bot.app:app")
    port = str(_free_port())
    prefix = tmp_path / "run"
    common = ["-m", "locust", "-f", str(LOCUSTFILE), "--headless", *CALLER]
    master = spawn(  # type: ignore[operator]
        "master",
        *common,
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port),
        *("--expect-workers", "2", "-u", "4", "-r", "4", "--run-time", "3s"),
        *("--stop-timeout", "40", "--host", bot_url, "--csv", str(prefix)),
        # The generator's own health is not this test's subject: a busy machine must not
        # turn its samples into failures here (the silent-bot test checks them).
        *("--bwsim-pacing-budget-ms=1e9", "--bwsim-cpu-budget=1e9"),
        env={},
    )
    workers = [
        spawn(  # type: ignore[operator]
            f"worker {i}",
            *common,
            *("--worker", "--master-host", "127.0.0.1", "--master-port", port),
            f"--bwsim-router={router_url}",
            env={},
        )
        for i in (1, 2)
    ]
    code = master.exit_code()
    for worker in workers:
        worker.exit_code()
    stats = {(r["Type"], r["Name"]): r for r in _rows(prefix.with_name("run_stats.csv"))}
    failures = _rows(prefix.with_name("run_failures.csv"))
    log = master.output()
    assert code == 0, log + "".join(w.output() for w in workers)
    assert not failures, failures
    got = _calls_the_bot_got(bot)
    calls = int(stats["bwsim", "call"]["Request Count"])
    assert calls == len(got) > 0, (calls, got)
    assert len({c[2:10] for c in got}) == 2, got  # both workers' calls, through the router
    for name in ("setup", "first_audio", "hangup"):
        assert int(stats["bwsim", name]["Request Count"]) == calls, name
    assert int(stats["bwsim", "response"]["Request Count"]) >= calls
    assert int(stats["bwsim-health", "cpu_percent"]["Request Count"]) > 0


def test_a_silent_bot_fails_its_calls_with_bwsims_reason(spawn: object, tmp_path: Path) -> None:
    """A bot whose speech has no audio: every call is a failure named "the bot never spoke".

    The budgets of the generator's own timing are set to 0, so its health samples are
    failures too, named ``generator overloaded``, on rows of their own: a generator past its
    capacity is never taken for the bot. The caller says the caller's leg of a call archive.
    """
    router_url, bot_url, bot = _router_and_bot(spawn, "tests.bots.flawed:silent")
    archive = tmp_path / "recorded"
    build_archive(np.concatenate([tone(1200), silence(400)])).save(archive)
    prefix = tmp_path / "run"
    run = spawn(  # type: ignore[operator]
        "locust",
        *("-m", "locust", "-f", str(LOCUSTFILE), "--headless", *CALLER),
        *("-u", "2", "-r", "2", "--run-time", "2s", "--stop-timeout", "40"),
        *("--host", bot_url, "--csv", str(prefix), f"--bwsim-router={router_url}"),
        *("--bwsim-pacing-budget-ms=0", "--bwsim-cpu-budget=0", f"--bwsim-archive={archive}"),
        env={},
    )
    code = run.exit_code()
    stats = {(r["Type"], r["Name"]): r for r in _rows(prefix.with_name("run_stats.csv"))}
    failures = _rows(prefix.with_name("run_failures.csv"))
    assert code == 1, run.output()  # Locust's exit code when a request failed
    got = _calls_the_bot_got(bot)
    calls = int(stats["bwsim", "call"]["Request Count"])
    assert calls == int(stats["bwsim", "call"]["Failure Count"]) == len(got) > 0
    reasons = [f["Error"] for f in failures if f["Name"] == "call"]
    assert reasons, failures
    assert all("the bot never spoke: it sent no playAudio" in r for r in reasons), reasons
    assert "first_audio" not in {name for _, name in stats}
    overloaded = {f["Name"]: f["Error"] for f in failures if f["Method"] == "bwsim-health"}
    assert "generator overloaded: pacing p99" in overloaded["pacing_p99"], overloaded
    assert "over the 0 ms budget" in overloaded["pacing_p99"]
    assert "generator overloaded" not in "".join(reasons)


def test_a_worker_that_cannot_reach_the_router_says_so_and_the_master_does_not_wait_on_it(
    spawn: object,
) -> None:
    """Nothing at --bwsim-router: the worker exits 2 saying so; the master never waits on it."""
    port = str(_free_port())
    nowhere = f"http://127.0.0.1:{_free_port()}"  # bound, then closed: nothing listens there
    common = ["-m", "locust", "-f", str(LOCUSTFILE), "--headless", *CALLER]
    master = spawn(  # type: ignore[operator]
        "master",
        *common,
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port),
        *("--expect-workers", "1", "-u", "1", "-r", "1", "--run-time", "2s"),
        *("--stop-timeout", "5", "--host", "http://127.0.0.1:9"),
        env={},
    )
    worker = spawn(  # type: ignore[operator]
        "worker",
        *common,
        *("--worker", "--master-host", "127.0.0.1", "--master-port", port),
        f"--bwsim-router={nowhere}",
        env={},
    )
    assert worker.exit_code() == 2, worker.output()
    said = worker.output()
    assert f"nothing answers at --bwsim-router {nowhere}" in said, said
    assert "start the router first" in said, said
    assert "Traceback" not in said, said
    master.exit_code()
    # Before, the master waited --stop-timeout + 30 s for the gone worker's last calls, and
    # said so when it gave up.
    assert "did not report their last calls" not in master.output(), master.output()
