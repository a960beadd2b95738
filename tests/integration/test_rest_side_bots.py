"""Unmodified bots reach the fake through their hard-coded Bandwidth URLs.

Each bot here runs in a child process bwsim starts (``--app`` served by bwsim's uvicorn,
or ``--cmd`` run with ``$PORT``), uses the real ``BandwidthFrameSerializer`` inside the
real ``FastAPIWebsocketTransport``, and sends its own REST requests through httpx or
aiohttp to ``https://api.bandwidth.com`` / ``https://voice.bandwidth.com``: nothing in the
bot knows about bwsim.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from simulator.rest.registry import CallPhase, new_stream_id
from simulator.runner.harness import Harness
from simulator.runner.targets import AppTarget, CmdTarget, Target

pytestmark = pytest.mark.timeout(90)


def target_for(how: str, client: str) -> Target:
    """The target that starts the test bot ``how`` (app or cmd) with ``client``."""
    if how == "app":
        return AppTarget(f"tests.bots.rest_bot:{client}_app")
    return CmdTarget(f"{sys.executable} -m tests.bots.rest_bot --client {client}")


async def place_call_and_stream(h: Harness, call_id: str) -> None:
    """Send the webhook, open the stream the BXML names, send start, wait for the close."""
    assert h.bot is not None
    acc = h.fake.default_account
    creds = base64.b64encode(
        f"{h.credentials.webhook_username}:{h.credentials.webhook_password}".encode()
    ).decode()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            h.bot.webhook_url,
            json={"eventType": "initiate", "callId": call_id, "accountId": acc.account_id},
            headers={"Authorization": f"Basic {creds}"},
        )
    assert r.status_code == 200, r.text
    destination = re.search(r'destination="([^"]+)"', r.text)
    assert destination is not None
    path = urlsplit(destination.group(1)).path
    ws_url = h.bot.base_url.replace("http://", "ws://") + path
    start = {
        "eventType": "start",
        "metadata": {
            "accountId": acc.account_id,
            "callId": call_id,
            "streamId": new_stream_id(),
            "streamName": "bot",
            "tracks": [
                {"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}
            ],
        },
    }
    async with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        await ws.send(json.dumps(start))
        # The bot ends its pipeline at once; its socket closes after the hang-up.
        async for _ in ws:
            pass


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
@pytest.mark.parametrize("how", ["app", "cmd"])
async def test_serializer_hangup_and_bot_transfer_reach_the_fake(how: str, client: str) -> None:
    """Serializer hang-up (token, then completed, 200) and a later 404 are journaled."""
    async with Harness(target_for(how, client)) as h:
        acc = h.fake.default_account
        call = h.fake.registry.create_call(acc.account_id)
        h.fake.registry.answer(call.call_id)

        await place_call_and_stream(h, call.call_id)

        requests = h.fake.journal.bot_requests()
        assert [e.route for e in requests] == ["token", "update_call"], [
            e.summary() for e in requests
        ]
        token, hangup = requests
        assert token.client_id == acc.client_id
        assert token.headers["authorization"] == "Basic ***"
        assert token.status == 200
        assert hangup.json_body == {"state": "completed"}
        assert hangup.call_id == call.call_id
        assert hangup.client_id == acc.client_id
        assert hangup.status == 200
        assert call.phase is CallPhase.DISCONNECTED

        # The same serializer against a call that has already ended: 404, and it carries on.
        await place_call_and_stream(h, call.call_id)
        again = h.fake.journal.bot_requests()[-1]
        assert (again.route, again.status) == ("update_call", 404)

        # The bot's own transfer through httpx/aiohttp, to the hard-coded URLs.
        second = h.fake.registry.create_call(acc.account_id)
        h.fake.registry.answer(second.call_id)
        assert h.bot is not None
        async with httpx.AsyncClient(timeout=10) as c:
            ids = {"callId": second.call_id, "accountId": acc.account_id}
            transfer = (await c.post(h.bot.base_url + "/transfer", json=ids)).json()
            late_hangup = (await c.post(h.bot.base_url + "/hangup", json=ids)).json()
        assert transfer == {"token_status": 200, "status": 204}
        assert second.phase is CallPhase.TRANSFERRED
        assert second.transfer is not None
        assert second.transfer.targets == (h.credentials.human_agent_number,)
        assert late_hangup == {"token_status": 200, "status": 404}
        h.collect_child_violations()
        assert h.fake.journal.violations == []
        assert h.bot.process is not None and h.bot.process.returncode is None


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
async def test_child_bot_cannot_reach_other_hosts(client: str) -> None:
    """A bot bwsim started that calls an outside host is refused and the violation reported."""
    async with Harness(target_for("cmd", client)) as h:
        assert h.bot is not None
        async with httpx.AsyncClient(timeout=10) as c:
            seen = (
                await c.post(h.bot.base_url + "/fetch", json={"url": "https://example.com/x"})
            ).json()
        assert "bwsim blocked" in seen["message"]
        assert "example.com" in seen["message"]
        found = h.collect_child_violations()
        assert [v.evidence["host"] for v in found] == ["example.com"]
