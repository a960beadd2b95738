"""The reference bot's security properties, each shown to catch a broken copy of the bot.

Each ``_check_*`` returns why a bot fails the property, or None. Every test runs the
check against the real bot (must pass) and against a copy with the matching flaw from
``tests/bots/broken_bots.py`` (must fail), under a real uvicorn on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bot.app import create_app
from bot.config import Settings
from simulator.call import CallOptions, LiveCall
from simulator.harness import Harness
from simulator.servers import serve
from simulator.targets import BotCredentials, RunningBot
from tests.bots.broken_bots import broken_app

SETTINGS = Settings(
    proxy_host="bot.example",
    client_id="cid",
    client_secret="csecret",
    webhook_username="hook-user",
    webhook_password="hook-password",
    human_agent_number="+19195550123",
    # Nothing here may leave loopback: a closed local port stands in for Bandwidth.
    oauth_url="http://127.0.0.1:9/api/v1/oauth2/token",
    voice_api_url="http://127.0.0.1:9/api/v2",
)
BODY = {"eventType": "initiate", "callId": "c-1234", "accountId": "9900000"}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


GOOD_AUTH = _basic("hook-user", "hook-password")


@asynccontextmanager
async def _running(app: FastAPI) -> AsyncIterator[str]:
    async with serve(app) as server:
        yield server.base_url


async def _token(base: str) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.post(base + "/", json=BODY, headers={"Authorization": GOOD_AUTH})
    assert r.status_code == 200, r.text
    return r.text.split("/ws/", 1)[1].split('"', 1)[0]


async def _opens(base: str, token: str) -> bool:
    """Whether the bot accepts a media socket with this token."""
    url = base.replace("http://", "ws://") + f"/ws/{token}"
    try:
        async with connect(url, proxy=None, open_timeout=5) as ws:
            await ws.close()
    except InvalidStatus as exc:
        status = exc.response.status_code
    else:
        return True
    if status != 403:  # a close-before-accept reaches a client through uvicorn as 403
        pytest.fail(f"the bot answered the upgrade with {status}, expected 403 (refused)")
    return False


async def _check_rejects_bad_credentials(base: str) -> str | None:
    wrong = {
        "none": None,
        "wrong password": _basic("hook-user", "nope"),
        "wrong username": _basic("nope", "hook-password"),
        "bearer scheme": "Bearer " + GOOD_AUTH.split(" ", 1)[1],
        "garbage": "Basic %%%",
    }
    async with httpx.AsyncClient() as client:
        for name, header in wrong.items():
            headers = {"Authorization": header} if header else {}
            r = await client.post(base + "/", json=BODY, headers=headers)
            if r.status_code != 401 or "basic" not in r.headers.get("www-authenticate", "").lower():
                return f"{name}: answered {r.status_code}, not 401 with WWW-Authenticate: Basic"
    return None


async def _check_single_use(base: str) -> str | None:
    token = await _token(base)
    if not await _opens(base, token):
        return "a fresh token was refused"
    if await _opens(base, token):
        return "a used token opened a second media socket"
    return None


async def _check_expiry(base: str) -> str | None:
    token = await _token(base)
    await asyncio.sleep(0.4)  # the bots under test have a 0.2 s TTL
    if await _opens(base, token):
        return "an expired token opened a media socket"
    return None


@pytest.mark.parametrize(
    ("check", "flaw", "settings"),
    [
        (_check_rejects_bad_credentials, "accepts-any-credentials", SETTINGS),
        (_check_single_use, "reusable-tokens", SETTINGS),
        (_check_expiry, "eternal-tokens", replace(SETTINGS, token_ttl_s=0.2)),
    ],
    ids=["credentials", "single-use", "expiry"],
)
async def test_property_holds_for_the_bot_and_catches_the_broken_copy(
    check, flaw: str, settings: Settings
) -> None:
    """The reference bot passes the check; the copy with the flaw fails it."""
    async with _running(create_app(settings)) as base:
        assert await check(base) is None
    async with _running(broken_app(flaw, settings)) as base:
        assert await check(base) is not None


async def test_unconfigured_webhook_credentials_refuse_every_call() -> None:
    """No webhook credentials configured: 503, never an unauthenticated stream."""
    settings = replace(SETTINGS, webhook_username="", webhook_password="")
    async with _running(create_app(settings)) as base, httpx.AsyncClient() as client:
        r = await client.post(base + "/", json=BODY, headers={"Authorization": _basic("", "")})
    assert r.status_code == 503


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", json.dumps({"accountId": "1"}).encode(),
     json.dumps({**BODY, "callId": "c-1/../x"}).encode(),
     json.dumps({**BODY, "accountId": "1?x=y"}).encode()],
)  # fmt: skip
async def test_bad_webhook_bodies_get_400(body: bytes) -> None:
    """Bodies that are not JSON objects with safe callId/accountId are refused with 400."""
    async with _running(create_app(SETTINGS)) as base, httpx.AsyncClient() as client:
        r = await client.post(base + "/", content=body, headers={"Authorization": GOOD_AUTH})
    assert r.status_code == 400


async def _spoof_victims(app_for: object) -> tuple[list[str], str, str]:
    """Call the bot with forged start ids naming another live call; return hung-up calls."""
    async with Harness() as h:
        account = h.fake.default_account
        victim = h.fake.registry.create_call(account.account_id)
        h.fake.registry.answer(victim.call_id)
        settings = replace(
            SETTINGS,
            client_id=account.client_id,
            client_secret=account.client_secret,
            oauth_url=f"{h.api_base}/api/v1/oauth2/token",
            voice_api_url=f"{h.api_base}/api/v2",
        )
        async with serve(app_for(settings)) as bot:  # type: ignore[operator]
            h.bot = RunningBot(bot.base_url)  # served here: it needs the fake's URL first
            h.credentials = BotCredentials(
                account.client_id, account.client_secret, "hook-user", "hook-password"
            )

            async def caller(call: LiveCall) -> None:
                await call.wait_for("stream-accepted", timeout_ms=5000)
                await call.pause(300)

            forged = {"callId": victim.call_id, "accountId": account.account_id}
            result = await h.place_call(
                caller, options=CallOptions(metadata_overrides=forged, max_call_s=20)
            )
            for _ in range(50):  # the bot hangs up when its stream ends
                if h.fake.journal.hangups():
                    break
                await asyncio.sleep(0.05)
        hung_up = [e.call_id for e in h.fake.journal.hangups() if e.call_id]
        return hung_up, result.call_id, victim.call_id


async def test_forged_start_ids_never_touch_another_call() -> None:
    """A start frame naming another live call: the bot acts only on its own (trusted) call."""
    hung_up, own, victim = await _spoof_victims(create_app)
    assert victim not in hung_up
    assert own in hung_up

    hung_up, own, victim = await _spoof_victims(lambda s: broken_app("trusts-start-ids", s))
    assert victim in hung_up  # the broken copy is caught hanging up the other call
