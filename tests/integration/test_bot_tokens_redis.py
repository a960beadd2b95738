"""Two bot workers sharing a real redis-server: a token minted by one is good once, anywhere."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_bot_security import BODY, GOOD_AUTH, _opens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on {port} within 20 s")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("BWSIM_REQUIRE_REDIS"):
            pytest.fail("redis-server is required (BWSIM_REQUIRE_REDIS) but not installed")
        pytest.skip("redis-server is not installed (nox installs it when it can)")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def workers(redis_url: str) -> Iterator[list[str]]:
    """Two bot processes (two workers) sharing the Redis token store."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PROXY_HOST": "bot.example",
        "BANDWIDTH_WEBHOOK_USERNAME": "hook-user",
        "BANDWIDTH_WEBHOOK_PASSWORD": "hook-password",
        # Nothing may leave loopback: a closed local port stands in for Bandwidth.
        "BANDWIDTH_OAUTH_URL": "http://127.0.0.1:9/api/v1/oauth2/token",
        "BANDWIDTH_VOICE_API_URL": "http://127.0.0.1:9/api/v2",
    }
    procs, urls = [], []
    try:
        for _ in range(2):
            port = _free_port()
            cmd = [sys.executable, "-m", "uvicorn", "bot.app:app", "--port", str(port)]
            proc = subprocess.Popen(
                [*cmd, "--log-level", "warning"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(proc)
            _wait_port(port, proc, "bot worker")
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


async def test_token_from_one_worker_is_accepted_once_by_the_other(workers: list[str]) -> None:
    """Minted by worker A; worker B accepts it once; both refuse it afterwards."""
    first, second = workers
    async with httpx.AsyncClient() as client:
        r = await client.post(first + "/", json=BODY, headers={"Authorization": GOOD_AUTH})
    assert r.status_code == 200
    token = r.text.split("/ws/", 1)[1].split('"', 1)[0]
    assert await _opens(second, token)
    assert not await _opens(second, token)
    assert not await _opens(first, token)
