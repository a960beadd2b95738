"""The reference bot's ``transferComplete`` webhook: a failed transfer brings the caller back."""

from __future__ import annotations

import httpx

from bot.app import create_app
from simulator.protocol.bxml import parse_bxml
from tests.integration.bandwidth_client import GOOD_AUTH
from tests.integration.bot_under_test import SETTINGS, running

COMPLETE = {"eventType": "transferComplete", "callId": "c-1234", "accountId": "9900000"}


async def test_a_failed_transfer_brings_the_caller_back_and_a_finished_one_ends_the_call() -> None:
    """Busy: a sentence and a new <StartStream>; hangup (bridged): <Hangup/>; no auth: 401."""
    async with running(create_app(SETTINGS)) as base, httpx.AsyncClient(timeout=5) as client:
        url = base + "/transfer-complete"
        auth = {"Authorization": GOOD_AUTH}
        busy = await client.post(url, json={**COMPLETE, "cause": "busy"}, headers=auth)
        done = await client.post(url, json={**COMPLETE, "cause": "hangup"}, headers=auth)
        anonymous = await client.post(url, json={**COMPLETE, "cause": "busy"})
    verbs = [v.name for v in parse_bxml(busy.text, context="webhook").verbs]
    assert verbs == ["SpeakSentence", "StartStream", "Pause"]
    assert "wss://bot.example/ws/" in busy.text
    assert [v.name for v in parse_bxml(done.text, context="webhook").verbs] == ["Hangup"]
    assert anonymous.status_code == 401
