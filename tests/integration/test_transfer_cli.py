"""``bwsim call --transfer-*``: what the people a bot's ``<Transfer>`` dials do, from the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.integration.cli import bwsim

BOT = ["--app", "tests.bots.transfer_bot:app", "--webhook-path", "/transfer"]


def _bwsim(*args: str) -> subprocess.CompletedProcess[str]:
    return bwsim(*args)


def test_a_busy_transfer_target_ends_the_transfer_busy(tmp_path: Path) -> None:
    """--transfer-answer busy: transferDisconnect and transferComplete carry busy; exit 0."""
    audio = tmp_path / "hello.wav"
    sf.write(audio, np.sin(2 * np.pi * 300 * np.arange(4000) / 8000) * 0.3, 8000)
    summary = tmp_path / "summary.json"
    done = _bwsim(
        "call", *BOT, "--audio", str(audio), "--out", str(tmp_path / "out"),
        "--transfer-answer", "busy", "--transfer-ring-ms", "0", "--json", str(summary),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    trace = (tmp_path / "out" / "trace.jsonl").read_text().splitlines()
    sent = [json.loads(line) for line in trace if '"kind": "webhook"' in line]
    assert [r["event_type"] for r in sent if r["event_type"] != "initiate"] == [
        "transferDisconnect",
        "transferComplete",
    ]
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    ended = [e for e in timeline if e["type"] == "transfer-ended"]
    assert [e["cause"] for e in ended] == ["busy"]


def test_a_negative_talk_time_is_a_usage_error(tmp_path: Path) -> None:
    """--transfer-talk-ms -5 is refused with exit 2 naming the option, before any call."""
    done = _bwsim("call", *BOT, "--audio", str(tmp_path / "x.wav"), "--transfer-talk-ms", "-5")
    assert done.returncode == 2
    assert "--transfer-ring-ms/--transfer-talk-ms" in done.stderr
