"""The bot's own Voice API client (bot/voice_api.py) against the fake Voice API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

from bot.config import Settings
from bot.tokens import Binding
from bot.voice_api import VoiceApi
from simulator.rest.fake import FakeBandwidth
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.servers import serve

BASE = Settings(
    proxy_host="bot.example",
    client_id="",
    client_secret="",
    webhook_username="u",
    webhook_password="p",
    human_agent_number="+19195550123",
)


@dataclass
class Api:
    """A fake Voice API with one live call, and a client for it."""

    fake: FakeBandwidth
    call: Binding
    client: VoiceApi


@asynccontextmanager
async def voice_api(**changes: str) -> AsyncIterator[Api]:
    """The fake on loopback, one answered call, and the bot's client pointed at it."""
    fake = FakeBandwidth()
    account = fake.default_account
    call = fake.registry.create_call(account.account_id)
    fake.registry.answer(call.call_id)
    async with serve(VoiceApiApp(fake)) as server:
        settings = replace(
            BASE,
            client_id=account.client_id,
            client_secret=account.client_secret,
            oauth_url=f"{server.base_url}/api/v1/oauth2/token",
            voice_api_url=f"{server.base_url}/api/v2",
        )
        yield Api(
            fake,
            Binding(call.call_id, account.account_id),
            VoiceApi(replace(settings, **cast("dict[str, Any]", changes)), timeout_s=5),
        )


async def test_hang_up_completes_the_call_and_a_second_one_gets_404() -> None:
    """The first hang-up completes the call; the next is a harmless 404, with one token."""
    async with voice_api() as api:
        assert await api.client.hang_up(api.call) == 200
        assert await api.client.hang_up(api.call) == 404
        assert [e.body for e in api.fake.journal.hangups(api.call.call_id)] == [
            '{"state": "completed"}'
        ] * 2
        assert len(api.fake.journal.find(route="token")) == 1  # the token is reused


async def test_transfer_puts_bxml_with_the_human_agent_number() -> None:
    """A transfer PUTs <Bxml><Transfer> for HUMAN_AGENT_NUMBER, coming back on failure."""
    async with voice_api() as api:
        assert await api.client.transfer(api.call) == 204
        (put,) = api.fake.journal.find(route="update_bxml")
    assert put.call_id == api.call.call_id
    assert put.headers["content-type"] == "application/xml"
    assert put.body == (  # the journal masks the password
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Bxml><Transfer transferCompleteUrl="https://bot.example/transfer-complete" '
        'username="u" password="***"><PhoneNumber>+19195550123</PhoneNumber></Transfer></Bxml>'
    )


async def test_refused_credentials_are_reported_not_raised() -> None:
    """A rejected OAuth request makes the operation return None; nothing is raised."""
    async with voice_api(client_secret="wrong") as api:
        assert await api.client.hang_up(api.call) is None
        assert api.fake.journal.hangups() == []


async def test_an_unreachable_api_is_reported_not_raised() -> None:
    """A Voice API that does not answer makes the operation return None."""
    async with voice_api(oauth_url="http://127.0.0.1:9/api/v1/oauth2/token") as api:
        assert await api.client.transfer(api.call) is None
