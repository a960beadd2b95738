"""``bwsim call --outbound-trigger``: the bot dials out, bwsim plays the callee, from the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.cli import bwsim

BOT = ["--app", "tests.bots.outbound_bot:app"]
DIAL = ["--outbound-trigger", "POST /dial", "--outbound-json", '{"to": "+15555550123"}']


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """Half a second of a 300 Hz tone at 16 kHz: what the callee says."""
    path = tmp_path / "hello.wav"
    t = np.arange(8000) / 16000
    sf.write(path, np.sin(2 * np.pi * 300 * t) * 0.3, 16000)
    return path


def _bwsim(*args: str) -> subprocess.CompletedProcess[str]:
    return bwsim(*args)


def test_call_dials_out_and_the_callee_talks(audio: Path, tmp_path: Path) -> None:
    """The bot gets answer, the callee speaks, hears the bot, hangs up; disconnect follows."""
    summary = tmp_path / "summary.json"
    done = _bwsim(
        "call", *BOT, *DIAL, "--audio", str(audio), "--out", str(tmp_path / "out"),
        "--linger-ms", "500", "--ring-ms", "100", "--json", str(summary),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(summary.read_text())
    assert data["call"]["final_state"] == "disconnected"
    assert data["call"]["disconnect_cause"] == "hangup"
    assert "<StartStream" in data["webhook"]["bxml"]
    trace = (tmp_path / "out" / "trace.jsonl").read_text().splitlines()
    sent = [json.loads(line) for line in trace if '"kind": "webhook"' in line]
    assert [(r["event_type"], r["status"]) for r in sent] == [("answer", 200), ("disconnect", 204)]
    assert "bot-speech-start" in (tmp_path / "out" / "timeline.json").read_text()


def test_call_with_a_busy_callee_sends_only_disconnect(audio: Path, tmp_path: Path) -> None:
    """--answer busy: the call ends busy, no answer webhook, exit 0 (the bot broke no rule)."""
    summary = tmp_path / "summary.json"
    done = _bwsim(
        "call", *BOT, *DIAL, "--audio", str(audio), "--out", str(tmp_path / "out"),
        "--answer", "busy", "--ring-ms", "50", "--json", str(summary),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(summary.read_text())
    assert data["call"]["disconnect_cause"] == "busy"
    trace = (tmp_path / "out" / "trace.jsonl").read_text()
    assert '"event_type": "answer"' not in trace
    assert '"event_type": "disconnect"' in trace


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--outbound-trigger", "dial"], "--outbound-trigger takes '[METHOD] /PATH'"),
        (["--outbound-trigger", "/dial", "--outbound-json", "{"], "--outbound-json is not valid"),
        (["--ring-ms", "10"], "--ring-ms is for outbound calls"),
    ],
)
def test_a_bad_outbound_option_exits_2_naming_it(audio: Path, args: list[str], named: str) -> None:
    """A wrong --outbound-* option is a usage error before any bot starts."""
    done = _bwsim("call", "--app", "no.such.module:app", "--audio", str(audio), *args)
    assert done.returncode == 2
    assert named in done.stderr
