"""``bwsim load --processes``: calls spread over worker processes, merged in one report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

BOT = "tests.bots.turn_bot:app"
FAST = {"TURN_BOT_GREETING_MS": "100", "TURN_BOT_REPLY_MS": "300"}


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """0.6 s of a 300 Hz tone at 8 kHz: one caller turn."""
    t = np.arange(4800) / 8000
    path = tmp_path / "turn.wav"
    sf.write(path, np.sin(2 * np.pi * 300 * t) * 0.25, 8000)
    return path


def _command(audio: Path, *args: str) -> list[str]:
    passed = [f"--pass-env={name}" for name in FAST]
    return [
        sys.executable, "-m", "simulator.cli.main", "load", "--app", BOT,
        "--audio", str(audio), "--processes", "2", *args, *passed,
    ]  # fmt: skip


def test_two_workers_place_the_calls_and_one_report_merges_them(
    audio: Path, tmp_path: Path
) -> None:
    """Four calls over two workers: every call in one report, both workers' timing shown."""
    report = tmp_path / "load.json"
    args = ["--calls", "4", "--concurrency", "4", "--linger-ms", "400", "--json", str(report)]
    done = subprocess.run(
        _command(audio, *args),
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, **FAST},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "load worker 1 started" in done.stderr
    assert "load worker 2 started" in done.stderr
    assert "passed       4/4" in done.stdout
    assert re.search(r"^worker 1 +\d+", done.stdout, re.M), done.stdout
    assert re.search(r"^worker 2 +\d+", done.stdout, re.M), done.stdout
    assert re.search(r"^timing: (trustworthy|NOT trustworthy)", done.stdout, re.M)
    data = json.loads(report.read_text())
    assert data["calls_passed"] == 4
    assert data["processes"] == 2
    assert [r["id"] for r in data["results"]] == ["call-1", "call-2", "call-3", "call-4"]
    # Each worker's fake mints ids carrying its number: two calls from each.
    owners = sorted(r["call_id"][2:4] for r in data["results"])
    assert owners == ["01", "01", "02", "02"]
    workers = data["timing"]["workers"]
    assert [(w["worker"], w["calls"], w["error"]) for w in workers] == [(1, 2, None), (2, 2, None)]
    assert data["timing"]["pacing"]["frames"] == sum(w["pacing"]["frames"] for w in workers)
    assert isinstance(data["timing"]["trustworthy"], bool)


def test_a_worker_that_dies_is_named_and_fails_the_run(audio: Path, tmp_path: Path) -> None:
    """A worker killed mid-run is reported by number as crashed; the run exits 1, no hang."""
    report = tmp_path / "load.json"
    # Calls that last at least 8 s after the answer: worker 2 is surely mid-call when killed.
    args = ["--calls", "2", "--concurrency", "2", "--linger-ms", "8000", "--json", str(report)]
    proc = subprocess.Popen(
        _command(audio, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **FAST},
    )
    assert proc.stderr is not None
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            started = re.search(r"load worker 2 started \(pid (\d+)\)", line)
            if started:
                os.kill(int(started.group(1)), signal.SIGKILL)
                break
        else:
            pytest.fail("worker 2 never started:\n" + "".join(seen))
        out, err = proc.communicate(timeout=100)
    finally:
        proc.kill()  # a no-op once it has ended; stops it if the test failed first
        proc.wait()
    assert proc.returncode == 1, out + err
    assert "FAIL worker 2: crashed (killed by SIGKILL) after 0 of 1 calls" in err
    assert re.search(r"^worker 2 +FAILED: crashed", out, re.M), out
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert [r["id"] for r in data["results"]] == ["call-1"]  # worker 1's call still reported
    assert data["results"][0]["passed"] is True
    assert data["timing"]["workers"][1]["error"].startswith("crashed")
