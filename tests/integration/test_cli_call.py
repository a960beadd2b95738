"""``bwsim call``: one call to a bot it starts (--app, --cmd) or one started by hand (--url)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.bot_process import free_port, uvicorn_app
from tests.integration.cli import bwsim

BOT = "tests.bots.media_bot:app"


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """Half a second of a 300 Hz tone at 16 kHz."""
    path = tmp_path / "hello.wav"
    t = np.arange(8000) / 16000
    sf.write(path, np.sin(2 * np.pi * 300 * t) * 0.3, 16000)
    return path


def _bwsim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return bwsim(*args, env=env)


@pytest.mark.parametrize(
    "target", [["--app", BOT], ["--cmd", f"{sys.executable} -m uvicorn {BOT} --port $PORT"]]
)
def test_call_starts_the_bot_and_writes_artifacts(
    target: list[str], audio: Path, tmp_path: Path
) -> None:
    """--app and --cmd start the bot; the call is recorded and summarised (schema 1)."""
    env = {**os.environ, "MEDIA_BOT_DIR": str(tmp_path)}
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    args = ["call", *target, "--audio", str(audio), "--out", str(out), "--json", str(summary)]
    done = _bwsim(*args, "--linger-ms", "300", "--pass-env", "MEDIA_BOT_DIR", env=env)
    assert done.returncode == 0, done.stderr
    assert "ws-closed" in done.stdout
    data = json.loads(summary.read_text())
    assert data["schema"] == 1
    assert data["call"]["callId"].startswith("c-")
    assert data["webhook"]["status"] == 200
    assert "<StartStream" in data["webhook"]["bxml"]
    assert data["streams"][0]["close_code"] == 1000
    (log,) = (out / "bots").glob("1-*.log")  # the bot's output, kept beside the recording
    assert f"bwsim: bot log {log}" in done.stdout
    assert data["streams"][0]["closed_by"] == "simulator"
    types = [e["type"] for e in data["events"]]
    assert {"webhook-answered", "stream-accepted", "bot-audio-first", "ws-closed"} <= set(types)
    assert data["violations"] == []
    assert isinstance(data["api_requests"], list)
    # The media bot plays its 1 s tone as soon as the socket opens: measured from audio.
    assert data["metrics"]["first_audio_ms"] > 0
    assert "time to first audio" in done.stdout
    assert {p.name for p in out.iterdir()} >= {"call.wav", "trace.jsonl", "timeline.json"}


def test_call_reaches_a_bot_started_by_hand(audio: Path, tmp_path: Path) -> None:
    """--url: the bot runs with the documented environment; bwsim uses the same secrets."""
    api_port = free_port()
    env = {
        **os.environ,
        "BANDWIDTH_CLIENT_ID": "hand-client",
        "BANDWIDTH_CLIENT_SECRET": "hand-secret",
        "BANDWIDTH_WEBHOOK_USERNAME": "hand-user",
        "BANDWIDTH_WEBHOOK_PASSWORD": "hand-password",
        "PROXY_HOST": "my-bot.example.ngrok.app",
        "BANDWIDTH_OAUTH_URL": f"http://127.0.0.1:{api_port}/api/v1/oauth2/token",
        "BANDWIDTH_VOICE_API_URL": f"http://127.0.0.1:{api_port}/api/v2",
        "MEDIA_BOT_DIR": str(tmp_path),
    }
    with uvicorn_app(BOT, env) as url:
        summary = tmp_path / "s.json"
        args = ["--url", url, "--api-port", str(api_port), "--json", str(summary)]
        args += ["--out", str(tmp_path / "out")]
        done = _bwsim("call", *args, "--audio", str(audio), "--linger-ms", "300", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(summary.read_text())
    assert data["webhook"]["outcome"] == "challenge-ok"
    assert data["streams"][0]["status"] == "accepted"


def test_unreadable_audio_exits_2_before_any_call(tmp_path: Path) -> None:
    """A missing or non-audio file: exit 2, the file named, no bot started."""
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    done = _bwsim("call", "--app", "no.such.module:app", "--audio", str(bogus))
    assert done.returncode == 2
    assert "notes.wav" in done.stderr
    assert "no.such.module" not in done.stderr  # the bot was never started


def test_a_closed_output_stops_bwsim_without_a_traceback(tmp_path: Path) -> None:
    """Output read by a reader that went away (``| head``): a one-line note, exit 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "simulator.cli.main", "init", "--dir", str(tmp_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert "bwsim: stopped: the output was closed" in done.stderr
    assert done.returncode == 1
