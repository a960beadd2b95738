"""Outbound calls against a real bot: it dials through the Voice API, bwsim plays the callee.

The bot (``tests/bots/outbound_bot.py``) runs under a real uvicorn on loopback; on
``POST /dial`` it creates the call with httpx against the fake Voice API, and bwsim rings,
answers, sends ``answer`` to the bot's ``answerUrl`` (on its public host, mapped to
loopback), opens the stream with the ``websockets`` client, plays the callee's audio and
sends ``disconnect`` at the end (docs/bandwidth.md §2.4, §2.5, §4.7).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest

from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.outbound import OutboundTrigger
from simulator.protocol.codec import ulaw_encode
from simulator.protocol.create_call import CalleePlan
from simulator.protocol.webhook_validation import validate_body
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import outbound_bot as bot

UTTERANCE = (np.random.default_rng(16).uniform(-8000, 8000, 8000 * 6 // 10)).astype(np.int16)
"""0.6 s of the callee: noise, so that every one of its frames differs from the others."""
DIAL = OutboundTrigger(json={"to": "+15555550123"})


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """The fake and the outbound bot, the bot configured with the fake's credentials."""
    async with serve(bot.app) as server, Harness(UrlTarget(server.base_url)) as h:
        account = h.fake.default_account
        bot.reset(
            api_base=h.api_base,
            client_id=account.client_id,
            client_secret=account.client_secret,
            account_id=account.account_id,
            application_id=account.application_id,
        )
        yield h


def webhooks(event_type: str) -> list[dict[str, Any]]:
    """The webhook bodies of ``event_type`` the bot got."""
    return [b for b in bot.SEEN["webhooks"] if b.get("eventType") == event_type]


async def test_the_bot_dials_and_bwsim_plays_the_callee_end_to_end(harness: Harness) -> None:
    """The bot gets answer, its stream, the callee audio; bwsim hears it; hang-up, disconnect."""

    async def callee(live: LiveCall) -> None:
        await live.wait_for("stream-accepted", timeout_ms=10_000)
        await live.say(UTTERANCE, "hello")
        await live.wait_for("bot-speech-end", timeout_ms=10_000)
        await live.pause(1000)  # a pause longer than the bot's GAP_FRAMES
        await live.say(UTTERANCE, "bye")  # the bot hangs up when the callee speaks again
        await live.pause(10_000)

    result = await harness.place_outbound_call(
        DIAL, CalleePlan("answered", ring_ms=200), callee, options=CallOptions(max_call_s=30)
    )

    assert result.errors == []
    [created] = bot.SEEN["created"]
    assert created["status"] == 201
    assert created["body"]["callId"] == result.call_id
    [answer] = webhooks("answer")
    assert answer["direction"] == "outbound"
    assert answer["callId"] == result.call_id
    assert answer["to"] == "+15555550123"
    validate_body("answer", answer)
    assert any(m["eventType"] == "start" for m in bot.SEEN["socket"])
    heard = b"".join(
        base64.b64decode(m["payload"])
        for m in bot.SEEN["socket"]
        if m["eventType"] == "media" and m["track"] == "inbound"
    )
    assert ulaw_encode(UTTERANCE) in heard, "the callee's audio never reached the bot"
    assert result.events("bot-speech-end"), "bwsim never heard the bot's tone"
    assert bot.SEEN["hangups"] == [200]
    assert result.disconnect_cause == "hangup"
    [disconnect] = webhooks("disconnect")
    assert disconnect["cause"] == "hangup"
    assert disconnect["callId"] == result.call_id
    validate_body("disconnect", disconnect)
    assert result.violations == []


async def test_a_busy_callee_gets_disconnect_busy_and_no_answer(harness: Harness) -> None:
    """With the callee busy the bot gets disconnect with cause busy and never answer."""
    result = await harness.place_outbound_call(DIAL, CalleePlan("busy", ring_ms=100))

    assert result.disconnect_cause == "busy"
    assert webhooks("answer") == []
    [disconnect] = webhooks("disconnect")
    assert disconnect["cause"] == "busy"
    assert "answerTime" not in disconnect or disconnect["answerTime"] is None
    assert bot.SEEN["socket"] == []


async def test_a_bot_that_never_dials_fails_naming_the_budget(harness: Harness) -> None:
    """A trigger after which no call is created ends with an error naming the budget."""
    trigger = OutboundTrigger(path="/nodial", create_within_s=0.5)
    result = await harness.place_outbound_call(trigger)

    [error] = result.errors
    assert "created no outbound call within 0.5 s" in error
    assert "POST /nodial" in error
    assert result.phase == "not-created"


async def test_a_call_nobody_expected_is_a_violation(harness: Harness) -> None:
    """A bot that creates a call when no outbound call is expected gets a violation."""
    assert harness.bot is not None
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(harness.bot.base_url + "/dial", json={"to": "+15555550123"})
    assert response.status_code == 201
    [violation] = [
        v for v in harness.fake.journal.violations if v.kind == "unexpected-outbound-call"
    ]
    assert "none was expected" in violation.detail
    call = harness.fake.registry.get(response.json()["callId"])
    assert call is not None
    assert call.disconnect_cause == "timeout"


async def test_create_call_refuses_bad_requests_as_the_other_routes_do(harness: Harness) -> None:
    """401 without a token, 403 for another account, 400 naming a missing or foreign field."""
    account = harness.fake.default_account
    url = f"{harness.api_base}/api/v2/accounts/{account.account_id}/calls"
    body = {
        "from": "+15555550111",
        "to": "+15555550123",
        "applicationId": account.application_id,
        "answerUrl": "https://bot.example/answer",
    }
    async with httpx.AsyncClient(trust_env=False) as client:
        token = await client.post(
            f"{harness.api_base}/api/v1/oauth2/token",
            auth=(account.client_id, account.client_secret),
            data={"grant_type": "client_credentials"},
        )
        bearer = {"authorization": f"Bearer {token.json()['access_token']}"}
        unauthenticated = await client.post(url, json=body)
        other = url.replace(account.account_id, "9999999")
        forbidden = await client.post(other, json=body, headers=bearer)
        missing = {k: v for k, v in body.items() if k != "answerUrl"}
        no_answer_url = await client.post(url, json=missing, headers=bearer)
        foreign = await client.post(url, json=body | {"applicationId": "x"}, headers=bearer)
    assert unauthenticated.status_code == 401
    assert forbidden.status_code == 403
    assert no_answer_url.status_code == 400
    assert "answerUrl: is required" in no_answer_url.json()["description"]
    assert no_answer_url.json()["type"] == "validation"
    assert foreign.status_code == 400
    assert "applicationId" in foreign.json()["description"]
    assert harness.fake.registry.calls == {}


async def test_a_machine_is_reported_by_machine_detection_complete(harness: Harness) -> None:
    """Async detection: machineDetectionComplete says answering-machine, then disconnect."""
    detection = {"mode": "async", "callbackUrl": "https://bot.example/machine"}
    trigger = OutboundTrigger(json={"to": "+15555550123", "machineDetection": detection})

    async def callee(live: LiveCall) -> None:
        await live.wait_for("stream-accepted", timeout_ms=10_000)

    result = await harness.place_outbound_call(trigger, CalleePlan("machine", ring_ms=50), callee)

    assert result.errors == []
    [complete] = webhooks("machineDetectionComplete")
    assert complete["machineDetectionResult"]["value"] == "answering-machine"
    assert complete["callId"] == result.call_id
    [answer] = webhooks("answer")
    assert "machineDetectionResult" not in answer  # async: the result comes on its own
    events = [b["eventType"] for b in bot.SEEN["webhooks"]]
    assert events.index("machineDetectionComplete") < events.index("disconnect")


async def test_sync_detection_puts_the_result_in_the_answer(harness: Harness) -> None:
    """Sync detection: the answer webhook carries machineDetectionResult (a person here)."""
    trigger = OutboundTrigger(json={"to": "+15555550123", "machineDetection": {"mode": "sync"}})

    async def callee(live: LiveCall) -> None:
        await live.wait_for("stream-accepted", timeout_ms=10_000)

    await harness.place_outbound_call(trigger, CalleePlan("answered", ring_ms=50), callee)

    [answer] = webhooks("answer")
    assert answer["machineDetectionResult"]["value"] == "human"
    validate_body("answer", answer)
    assert webhooks("machineDetectionComplete") == []


async def test_a_call_created_during_an_inbound_call_fails_that_call(harness: Harness) -> None:
    """A bot that dials out unasked during an inbound call: the call reports the violation."""
    options = CallOptions(webhook_path="/dials-on-initiate", auth_mode="none")
    result = await harness.place_call(options=options)
    [violation] = [v for v in result.violations if v.kind == "unexpected-outbound-call"]
    assert "none was expected" in violation.detail
