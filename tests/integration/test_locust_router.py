"""The router gives the bot one Voice API for calls that live in several workers' fakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from simulator.locust.engine import CallEngine, EngineSettings
from simulator.locust.router import (
    READY_LINE,
    REGISTER_PATH,
    Router,
    WorkerEntry,
    register_worker,
)
from simulator.rest.control_guard import TOKEN_VAR
from simulator.runner.bot_env import BotCredentials
from simulator.runner.servers import serve

ACCOUNT = "9900000"
CREDS = BotCredentials(
    client_id="bot-client",
    client_secret="bot-secret",
    webhook_username="",
    webhook_password="",
    account_id=ACCOUNT,
    control_token="router-control-token-0123456789",
)


@pytest.fixture
async def workers() -> AsyncIterator[tuple[str, list[tuple[CallEngine, str]]]]:
    """A router and two registered engines, each holding one live call of its own."""
    engines = [CallEngine(EngineSettings(credentials=CREDS)) for _ in range(2)]
    async with serve(Router(CREDS.control_token)) as router:
        calls = []
        for engine in engines:
            await engine.start()
            tag = engine.settings.tag
            entry = WorkerEntry(tag, engine.api_base, engine.router_token())
            await register_worker(router.base_url, CREDS.control_token, entry)
            call = engine.fake.registry.create_call(ACCOUNT, call_id=f"c-{tag}-{uuid.uuid4()}")
            calls.append((engine, call.call_id))
        try:
            yield router.base_url, calls
        finally:
            for engine in engines:
                await engine.stop()


async def _token(client: httpx.AsyncClient, base: str) -> str:
    reply = await client.post(
        f"{base}/api/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CREDS.client_id, CREDS.client_secret),
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def test_one_token_reaches_the_calls_of_every_worker(
    workers: tuple[str, list[tuple[CallEngine, str]]],
) -> None:
    """A token from the router works on both workers' calls; each request reaches the owner."""
    base, calls = workers
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await _token(client, base)
        for engine, call_id in calls:
            reply = await client.get(
                f"{base}/api/v2/accounts/{ACCOUNT}/calls/{call_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["callId"] == call_id
            assert any(e.call_id == call_id for e in engine.fake.journal.entries)


async def test_a_token_the_router_never_gave_is_refused_by_the_owner(
    workers: tuple[str, list[tuple[CallEngine, str]]],
) -> None:
    """A made-up token is passed on as it is, and the worker owning the call answers 401."""
    base, calls = workers
    _, call_id = calls[1]
    async with httpx.AsyncClient(trust_env=False) as client:
        reply = await client.get(
            f"{base}/api/v2/accounts/{ACCOUNT}/calls/{call_id}",
            headers={"Authorization": "Bearer made-up"},
        )
    assert reply.status_code == 401, reply.text


async def test_a_call_of_no_registered_worker_is_404_naming_the_tag(
    workers: tuple[str, list[tuple[CallEngine, str]]],
) -> None:
    """A call id whose tag no worker registered is answered 404 by the router itself."""
    base, _ = workers
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await _token(client, base)
        reply = await client.get(
            f"{base}/api/v2/accounts/{ACCOUNT}/calls/c-ffffffff-{uuid.uuid4()}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 404
    assert "no registered worker owns calls tagged ffffffff" in reply.json()["description"]


async def test_registering_needs_the_control_token() -> None:
    """A worker registering without the run's control token is refused (401)."""
    async with serve(Router(CREDS.control_token)) as router, httpx.AsyncClient() as client:
        reply = await client.post(
            router.base_url + REGISTER_PATH,
            json={"tag": "0a1b2c3d", "url": "http://127.0.0.1:1", "token": "t"},
            headers={"Authorization": "Bearer wrong"},
        )
    assert reply.status_code == 401
    assert "BWSIM_CONTROL_TOKEN" in reply.json()["description"]


HARD_CODED_BOT = """\
import os, sys
boot = getattr(sys.modules.get("sitecustomize"), "__file__", "") or ""
if not os.environ.get("BWSIM_INTERCEPT") or os.path.basename(os.path.dirname(boot)) != "_bootstrap":
    # Without bwsim's hooks this request would leave the machine: never send it.
    print("no interception:", os.environ.get("BWSIM_INTERCEPT"), boot, flush=True)
    sys.exit(3)
import httpx
reply = httpx.post(
    "https://api.bandwidth.com/api/v1/oauth2/token",
    data={"grant_type": "client_credentials"},
    auth=("bot-client", "bot-secret"),
    timeout=30,
)
print(reply.status_code, reply.json()["description"], flush=True)
"""
"""A bot's token request, to Bandwidth's real host as the Pipecat guide's bot has it."""
SOURCE_THEN_RUN = '. "$1" && exec "$2" -c "$3"'
"""As the docs say to start the bot: source the router's env file, then run Python."""


def test_a_bot_with_hard_coded_bandwidth_urls_reaches_the_router_through_its_env_file(
    tmp_path: Path,
) -> None:
    """A child started from the router's --env-file posting to api.bandwidth.com gets its 503."""
    env_file = tmp_path / "router.env"
    clean = {"PATH": os.environ["PATH"]}  # nothing of this process's interception or proxies
    command = [sys.executable, "-m", "simulator.locust.router", "--port", "0"]
    with subprocess.Popen(
        [*command, "--env-file", str(env_file)],
        env={**clean, TOKEN_VAR: CREDS.control_token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as router:
        assert router.stdout is not None and router.stderr is not None
        try:
            printed = []
            for line in router.stdout:  # ends early only if the router exits
                printed.append(line.rstrip("\n"))
                if printed[-1] == READY_LINE:
                    break
            assert printed[-1:] == [READY_LINE], printed
            assert printed[0].startswith("bwsim router: listening on http://127.0.0.1:")
            assert env_file.read_text(encoding="utf-8").splitlines() == printed[1:]
            bot = subprocess.run(
                ["sh", "-c", SOURCE_THEN_RUN, "sh", str(env_file), sys.executable, HARD_CODED_BOT],
                env=clean,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            said = bot.stdout.strip()
            assert said.startswith("503 no Locust worker has registered with the router yet"), (
                said,
                bot.stderr,
            )
        finally:
            router.send_signal(signal.SIGTERM)
            assert router.wait(timeout=30) == 0, router.stderr.read()
    assert not env_file.exists()  # it names a router that is gone
