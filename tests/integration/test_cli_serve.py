"""``bwsim serve`` runs the fake on loopback, prints the bot's environment, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx


def test_serve_prints_working_environment_and_stops_on_sigint() -> None:
    """The printed OAuth URL and client credentials buy a token; SIGINT exits 0."""
    with subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        _drive(proc)


def _drive(proc: subprocess.Popen[str]) -> None:
    """Read the printed environment, use it, then stop the server with SIGINT."""
    try:
        env: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                env[key] = value
            if line.startswith("bwsim: journal"):
                break
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
