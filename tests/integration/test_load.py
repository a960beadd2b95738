"""``bwsim load``: many whole calls to one bot, each judged, with latency percentiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simulator.runner.load import run_load
from simulator.runner.targets import AppTarget

BOT = "tests.bots.turn_bot:app"
FAST = {"TURN_BOT_GREETING_MS": "100", "TURN_BOT_REPLY_MS": "300"}


def _voice(seconds: float = 0.6) -> np.ndarray:
    t = np.arange(round(seconds * 8000)) / 8000
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """0.6 s of a 300 Hz tone at 8 kHz: one caller turn."""
    path = tmp_path / "turn.wav"
    sf.write(path, _voice().astype(np.float64) / 32768, 8000)
    return path


async def test_every_call_is_checked_and_latencies_are_measured(tmp_path: Path) -> None:
    """Three calls, two at a time: all set up, answered ~300 ms after the speech, clean."""
    truth = tmp_path / "truth.jsonl"
    report = await run_load(
        AppTarget(BOT),
        _voice(),
        calls=3,
        concurrency=2,
        linger_ms=400,
        bot_env={**FAST, "TURN_BOT_TRUTH": str(truth)},
    )
    assert report.ok, [r.problems for r in report.records] + report.unattributed
    assert report.setup_ok == 3
    assert [r.index for r in report.records] == [1, 2, 3]
    lat = report.latencies()
    assert lat["response_ms"]["n"] == 3
    assert lat["response_ms"]["p95_ms"] is None  # fewer than 20 samples
    # The bot answers 300 ms after the first silent frame reached it, so no measured
    # response can be shorter (less a frame of speech-end resolution); how much longer
    # depends on the machine and is benchmarks/accuracy.py's to measure.
    for record in report.records:
        (response,) = record.metrics.response_latencies
        assert response >= 300 - 20, response
    assert len({r.call_id for r in report.records}) == 3
    replies = [json.loads(line) for line in truth.read_text().splitlines()]
    assert sum(r["kind"] == "reply" for r in replies) == 3


def _bwsim(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The bot starts with a clean environment: the variables it reads are passed by name.
    passed = [f"--pass-env={name}" for name in env]
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", *args, *passed],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **env},
        check=False,
    )


def test_cli_prints_the_table_and_writes_schema_1(audio: Path, tmp_path: Path) -> None:
    """`bwsim load` exits 0 when every call passes, with a table and a versioned report."""
    report = tmp_path / "load.json"
    args = ["load", "--app", BOT, "--calls", "2", "--concurrency", "2", "--audio", str(audio)]
    done = _bwsim(*args, "--linger-ms", "400", "--json", str(report), env=FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "call setup   2/2 ok" in done.stdout
    assert "response_ms" in done.stdout
    assert "2/2 calls" in done.stderr  # the progress line
    data = json.loads(report.read_text())
    assert data["schema"] == 1
    assert data["passed"] is True
    assert data["latency"]["response_ms"]["n"] == 2
    assert [r["passed"] for r in data["results"]] == [True, True]
    assert all(r["id"] and r["detail"] for r in data["results"])


def test_a_bot_that_never_speaks_fails_every_call(audio: Path, tmp_path: Path) -> None:
    """A mute bot sets the calls up but fails them all: exit 1, 'never spoke' in the report."""
    report = tmp_path / "load.json"
    args = ["load", "--app", BOT, "--calls", "2", "--concurrency", "2", "--audio", str(audio)]
    env = {**FAST, "TURN_BOT_MODE": "mute"}
    waits = ["--greeting-wait-ms", "1000", "--reply-wait-ms", "1500", "--linger-ms", "300"]
    done = _bwsim(*args, *waits, "--json", str(report), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert data["setup_ok"] == 2
    assert data["calls_passed"] == 0
    assert all("never spoke" in r["detail"] for r in data["results"])
    assert "FAIL call-1" in done.stderr


def test_unreadable_audio_exits_2(tmp_path: Path) -> None:
    """An audio file that cannot be read stops the run before any call (exit 2)."""
    bogus = tmp_path / "nope.wav"
    bogus.write_text("not audio")
    done = _bwsim("load", "--app", BOT, "--calls", "1", "--audio", str(bogus), env={})
    assert done.returncode == 2, done.stderr
