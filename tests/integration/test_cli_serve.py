"""``bwsim serve`` runs the fake on loopback, prints the bot's environment, places calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.bot_process import bot_process, free_port

FIXTURES = Path(__file__).resolve().parents[2] / "simulator" / "suite" / "audio"


def test_serve_prints_working_environment_and_stops_on_sigint() -> None:
    """The printed OAuth URL and client credentials buy a token; SIGINT exits 0."""
    with subprocess.Popen(
        [sys.executable, "-m", "simulator.cli.main", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        _drive(proc)


def _drive(proc: subprocess.Popen[str]) -> None:
    """Read the printed environment, use it, then stop the server with SIGINT."""
    try:
        env = _read_env(proc)
        assert {"BANDWIDTH_OAUTH_URL", "BANDWIDTH_CLIENT_ID", "BANDWIDTH_CLIENT_SECRET"} <= set(env)
        r = httpx.post(
            env["BANDWIDTH_OAUTH_URL"],
            auth=(env["BANDWIDTH_CLIENT_ID"], env["BANDWIDTH_CLIENT_SECRET"]),
            data={"grant_type": "client_credentials"},
            timeout=5,
        )
        assert r.status_code == 200
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _read_env(proc: subprocess.Popen[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export "):
            key, _, value = line[len("export ") :].strip().partition("=")
            env[key] = value
        if line.startswith("bwsim: journal"):
            return env
    raise AssertionError("bwsim serve ended before printing its environment")


def test_serve_places_a_call_to_a_bot_started_by_hand() -> None:
    """POST /_bwsim/calls calls the hand-started reference bot and answers the summary."""
    with subprocess.Popen(
        [sys.executable, "-m", "simulator.cli.main", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as serve:
        try:
            env = _read_env(serve)
            port = free_port()
            bot_env = {**env, "PORT": str(port), "PROXY_HOST": f"127.0.0.1:{port}"}
            with bot_process(bot_env) as bot:
                control = env["BWSIM_CONTROL_URL"]
                bad = httpx.post(f"{control}/calls", json={"url": "http://10.0.0.1:80"}, timeout=5)
                assert bad.status_code == 400
                assert "never reaches beyond loopback" in bad.json()["description"]
                typo = httpx.post(f"{control}/calls", json={"url": bot.base_url, "audi": "x"})
                assert typo.status_code == 400
                assert "unknown keys ['audi']" in typo.json()["description"]
                body = {
                    "url": bot.base_url,
                    "audio": str(FIXTURES / "hello.wav"),
                    "caller_lines": ["Hello, can you hear me?"],
                    "linger_ms": 1000,
                    "max_call_s": 40,
                }
                r = httpx.post(f"{control}/calls", json=body, timeout=60)
            assert r.status_code == 200
            summary = r.json()
            assert summary["schema"] == 1
            assert summary["passed"] is True, summary["problems"]
            assert summary["webhook"]["status"] == 200
            kinds = [e["type"] for e in summary["events"]]
            assert "caller-audio-start" in kinds  # the file was said into the call
            assert "bot-speech-start" in kinds  # and the bot spoke on it
            os.kill(serve.pid, signal.SIGINT)
            assert serve.wait(timeout=10) == 0
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait(5)
