"""The router gives the bot one Voice API for calls that live in several workers' fakes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from simulator.locust.engine import CallEngine, EngineSettings
from simulator.locust.router import REGISTER_PATH, Router, WorkerEntry, register_worker
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
