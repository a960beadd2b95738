"""The reference bot's security properties, each shown to catch a broken copy of the bot.

Each ``check_*`` returns why a bot fails the property, or None. Every property test runs
its check against the real bot (it must pass) and against a copy with the matching flaw
from ``tests/bots/broken_bots.py`` (it must fail), each under a real uvicorn on loopback,
driven with httpx and the websockets client as Bandwidth would drive it. Nothing leaves
loopback: the Bandwidth URLs are a closed local port, or the fake Voice API.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi import FastAPI

import bot.app
from bot.app import create_app
from bot.config import Settings
from simulator.rest.fake import FakeBandwidth
from simulator.rest.journal import JournalEntry
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.servers import serve
from tests.bots.broken_bots import broken_app
from tests.integration.bandwidth_client import (
    BODY,
    GOOD_AUTH,
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    basic,
    destination,
    is_play_audio,
    mint_token,
    open_media,
    post_webhook,
    refusal,
    speech,
    start_frame,
)
from tests.integration.bot_under_test import SETTINGS, running, short_script

TTL_S = 0.0
"""The token lifetime of the bots in the expiry check: none, so every token is already past
it when presented, with no sleep for a lifetime to pass (the store compares deadlines on
the monotonic clock, which never goes back)."""


# -- checks: each returns why the bot at ``base`` fails the property, or None -------------


async def check_rejects_bad_credentials(base: str) -> str | None:
    """Missing or wrong Basic credentials get 401 with a Basic challenge."""
    wrong = {
        "no header": None,
        "wrong password": basic(WEBHOOK_USER, "nope"),
        "wrong username": basic("nope", WEBHOOK_PASSWORD),
        "no colon": "Basic " + GOOD_AUTH.split(" ", 1)[1][:8],
        "not base64": "Basic %%%",
        "no credentials": "Basic",
    }
    for name, header in wrong.items():
        r = await post_webhook(base, auth=header)
        challenge = r.headers.get("www-authenticate", "")
        if r.status_code != 401 or not challenge.lower().startswith("basic"):
            return f"{name}: answered {r.status_code} {challenge!r}, not 401 with a Basic challenge"
    return None


async def check_rejects_other_schemes(base: str) -> str | None:
    """The right credentials under another scheme than Basic get 401."""
    encoded = GOOD_AUTH.split(" ", 1)[1]
    for scheme in ("Bearer", "Digest", "Token"):
        r = await post_webhook(base, auth=f"{scheme} {encoded}")
        if r.status_code != 401:
            return f"{scheme} with the right base64 credentials: answered {r.status_code}"
    return None


async def check_refuses_when_unconfigured(base: str) -> str | None:
    """With no webhook credentials configured, every webhook gets 503."""
    for header in (None, basic("", ""), "Basic Og=="):
        r = await post_webhook(base, auth=header)
        if r.status_code != 503:
            return f"unconfigured credentials, header {header!r}: answered {r.status_code}"
    return None


async def check_single_use(base: str) -> str | None:
    """A token opens one media socket, never a second."""
    token = await mint_token(base)
    if (how := await refusal(base, token)) is not None:
        return f"a fresh token was refused ({how})"
    if await refusal(base, token) is None:
        return "a used token opened a second media socket"
    return None


async def check_expiry(base: str) -> str | None:
    """A token past its lifetime opens no media socket."""
    token = await mint_token(base)  # with TTL_S = 0, expired as soon as it exists
    if await refusal(base, token) is None:
        return "an expired token opened a media socket"
    return None


async def check_refuses_unknown_tokens(base: str) -> str | None:
    """A token the bot never minted opens no media socket."""
    await mint_token(base)  # a call is waiting for its stream
    for token in (secrets.token_urlsafe(32), "x", "a" * 500):
        if await refusal(base, token) is None:
            return f"the unknown token {token[:12]!r}… opened a media socket"
    return None


async def check_rejects_unsafe_ids(base: str) -> str | None:
    """Ids with characters outside RFC 3986 unreserved are refused (webhook 400, start 1008)."""
    unsafe = (("callId", "c-1/../x"), ("accountId", "1?x=y"), ("callId", "c 1"), ("callId", "c\n"))
    for key, value in unsafe:
        r = await post_webhook(base, {**BODY, key: value})
        if r.status_code != 400:
            return f"{key}={value!r} in the webhook: answered {r.status_code}, not 400"
    token = await mint_token(base)
    async with open_media(base, token) as media:
        await media.ws.send(start_frame(stream_id="s-1/../x"))
        try:
            await media.wait_closed(5)
        except TimeoutError:
            return "a start frame with streamId 's-1/../x' was accepted"
        if media.ws.close_code != 1008:
            return f"a bad streamId closed the socket with {media.ws.close_code}, not 1008"
    return None


PROPERTIES = [
    (
        check_rejects_bad_credentials,
        "accepts-any-credentials",
        SETTINGS,
        "no header: answered 200",
    ),
    (
        check_rejects_other_schemes,
        "ignores-auth-scheme",
        SETTINGS,
        "Bearer with the right base64 credentials: answered 200",
    ),
    (
        check_refuses_when_unconfigured,
        "accepts-when-unconfigured",
        replace(SETTINGS, webhook_username="", webhook_password=""),
        "unconfigured credentials, header None: answered",
    ),
    (check_single_use, "reusable-tokens", SETTINGS, "a used token opened a second media socket"),
    (
        check_expiry,
        "eternal-tokens",
        replace(SETTINGS, token_ttl_s=TTL_S),
        "an expired token opened a media socket",
    ),
    (check_refuses_unknown_tokens, "ignores-token-value", SETTINGS, "opened a media socket"),
    (
        check_rejects_unsafe_ids,
        "accepts-unsafe-ids",
        SETTINGS,
        "callId='c-1/../x' in the webhook: answered",
    ),
]


@pytest.mark.parametrize(
    ("check", "flaw", "settings", "reason"),
    PROPERTIES,
    ids=[flaw for _, flaw, _, _ in PROPERTIES],
)
async def test_property_holds_for_the_bot_and_catches_the_broken_copy(
    check: Callable[[str], Awaitable[str | None]],
    flaw: str,
    settings: Settings,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference bot passes the check; the copy with the flaw fails it, for that flaw."""
    async with running(create_app(settings)) as base:
        assert await check(base) is None
    async with running(broken_app(flaw, settings, monkeypatch)) as base:
        failure = await check(base)
    assert failure is not None and reason in failure, failure


# -- plain contract tests -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1]", b'"text"', b'{"accountId": "1"}', b'{"callId": "c-1"}',
     b'{"callId": 5, "accountId": "1"}'],
)  # fmt: skip
async def test_webhook_bodies_without_valid_ids_get_400(content: bytes) -> None:
    """Authenticated bodies that are not JSON objects with callId and accountId get 400."""
    async with running(create_app(SETTINGS)) as base:
        r = await post_webhook(base, content=content)
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    ("keepalive", "verb"),
    [
        ("pause", '<Pause duration="86400"/>'),
        ("stopstream", '<StopStream name="bot" wait="true"/>'),
    ],
)
async def test_initiate_is_answered_with_a_start_stream_to_the_proxy_host(
    keepalive: str, verb: str
) -> None:
    """The BXML streams to wss://PROXY_HOST/ws/<token>, bidirectional, then holds the call."""
    settings = replace(SETTINGS, proxy_host="abc.ngrok.example", keepalive=keepalive)
    async with running(create_app(settings)) as base:
        r = await post_webhook(base)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    token = destination(r.text).removeprefix("wss://abc.ngrok.example/ws/")
    assert len(token) == 43, r.text
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><StartStream ')
    assert 'mode="bidirectional" tracks="inbound"/>' in r.text
    assert r.text.endswith(f"{verb}</Response>")


@pytest.mark.parametrize("event", ["disconnect", "transferComplete", None])
async def test_other_webhook_events_get_204_and_no_stream(event: str | None) -> None:
    """Only initiate and answer get a stream; other events are acknowledged with 204."""
    async with running(create_app(SETTINGS)) as base:
        r = await post_webhook(base, {**BODY, "eventType": event})
    assert (r.status_code, r.content) == (204, b"")


@pytest.mark.parametrize("first", ['{"eventType": "media"}', "not json", "[1]"])
async def test_a_first_frame_that_is_not_start_closes_the_socket_1008(first: str) -> None:
    """The socket is closed 1008 when its first frame is not a start frame."""
    async with running(create_app(SETTINGS)) as base:
        token = await mint_token(base)
        async with open_media(base, token) as media:
            await media.ws.send(first)
            await media.wait_closed(5)
    assert media.ws.close_code == 1008


async def test_a_socket_that_never_sends_start_is_closed_1008(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No start frame within the bot's start timeout: the socket is closed 1008."""
    monkeypatch.setattr(bot.app, "START_TIMEOUT_S", 0.2)
    async with running(create_app(SETTINGS)) as base:
        token = await mint_token(base)
        async with open_media(base, token) as media:
            await media.wait_closed(5)
    assert media.ws.close_code == 1008


# -- forged ids in the start frame ----------------------------------------------------------


@dataclass
class FakeApi:
    """The fake Voice API served in this loop, with two live calls in one account."""

    fake: FakeBandwidth
    base: str
    own: str
    victim: str
    changed: asyncio.Event

    def settings(self, script: Path | None = None) -> Settings:
        account = self.fake.default_account
        cfg = replace(
            SETTINGS,
            client_id=account.client_id,
            client_secret=account.client_secret,
            oauth_url=f"{self.base}/api/v1/oauth2/token",
            voice_api_url=f"{self.base}/api/v2",
        )
        return replace(cfg, script_path=script) if script else cfg

    async def wait_for(self, what: Callable[[], list[JournalEntry]], timeout_s: float) -> None:
        """Wait on each journal entry until ``what`` finds one; fail, saying so, if none comes."""
        try:
            async with asyncio.timeout(timeout_s):
                while not what():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            seen = [(e.method, e.path, e.status) for e in self.fake.journal.entries]
            msg = f"no awaited Voice API request within {timeout_s:g} s; the fake saw {seen}"
            raise AssertionError(msg) from None

    def acted_on(self, route: str) -> set[str | None]:
        return {e.call_id for e in self.fake.journal.find(route=route)}


@asynccontextmanager
async def fake_api() -> AsyncIterator[FakeApi]:
    """The fake Voice API on loopback, with an own and a victim call live in one account."""
    fake = FakeBandwidth()
    account = fake.default_account.account_id
    own, victim = fake.registry.create_call(account), fake.registry.create_call(account)
    for call in (own, victim):
        fake.registry.answer(call.call_id)
    changed = asyncio.Event()
    unsubscribe = fake.journal.subscribe(lambda _entry: changed.set())
    try:
        async with serve(VoiceApiApp(fake)) as server:
            yield FakeApi(fake, server.base_url, own.call_id, victim.call_id, changed)
    finally:
        unsubscribe()


def trusting_bot(settings: Settings) -> FastAPI:
    """The copy of the bot that takes callId/accountId from the start frame."""
    return broken_app("trusts-start-ids", settings)


async def check_stream_end_hangs_up_the_trusted_call(
    app_for: Callable[[Settings], FastAPI],
) -> str | None:
    """The caller leaves a stream whose start named another call: which call is hung up."""
    async with fake_api() as api, running(app_for(api.settings())) as base:
        account = api.fake.default_account.account_id
        token = await mint_token(base, api.own, account)
        async with open_media(base, token) as media:
            await media.start(start_frame(call_id=api.victim, account_id=account))
            await media.wait_for(is_play_audio, 10)
        # The caller went away: the bot hangs up the call its stream belonged to.
        await api.wait_for(api.fake.journal.hangups, 10)
        if api.victim in api.acted_on("update_call"):
            return "the bot hung up the call named in the forged start frame"
    return None


async def check_tools_act_on_the_trusted_call(
    app_for: Callable[[Settings], FastAPI], tmp_path: Path, caller_line: str, route: str
) -> str | None:
    """The caller speaks a line that makes the bot use a tool: which call the tool acts on."""
    async with fake_api() as api:
        settings = api.settings(short_script(tmp_path, caller_line))
        async with running(app_for(settings)) as base:
            account = api.fake.default_account.account_id
            token = await mint_token(base, api.own, account)
            async with open_media(base, token) as media:
                await media.start(start_frame(call_id=api.victim, account_id=account))
                await media.wait_for(is_play_audio, 10)
                media.say(speech(caller_line))
                await api.wait_for(lambda: api.fake.journal.find(route=route), 20)
        if api.victim in api.acted_on(route):
            return f"{route} was sent for the call named in the forged start frame"
        if api.own not in api.acted_on(route):
            return f"{route} was not sent for the trusted call"
    return None


async def test_forged_start_ids_do_not_choose_the_call_the_bot_hangs_up() -> None:
    """When its stream ends, the bot hangs up its own call, not one a start frame names."""
    assert await check_stream_end_hangs_up_the_trusted_call(create_app) is None
    failure = await check_stream_end_hangs_up_the_trusted_call(trusting_bot)
    assert failure == "the bot hung up the call named in the forged start frame"


@pytest.mark.parametrize(
    ("caller_line", "route"),
    [("A person please.", "update_bxml"), ("Thank you, goodbye.", "update_call")],
    ids=["transfer_to_human", "end_call"],
)
async def test_forged_start_ids_do_not_choose_the_call_the_tools_act_on(
    tmp_path: Path, caller_line: str, route: str
) -> None:
    """transfer_to_human and end_call (via the serializer) act on the trusted call only."""
    good = check_tools_act_on_the_trusted_call(create_app, tmp_path / "good", caller_line, route)
    bad = check_tools_act_on_the_trusted_call(trusting_bot, tmp_path / "bad", caller_line, route)
    # The two calls run side by side: each takes seconds of real-time audio.
    good_result, bad_result = await asyncio.gather(good, bad)
    assert good_result is None
    assert bad_result == f"{route} was sent for the call named in the forged start frame"
