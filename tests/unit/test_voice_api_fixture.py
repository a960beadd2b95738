"""The bwsim_voice_api fixture: a bot's tool function against the fake, with no server."""

from __future__ import annotations

import http.server
import threading

import httpx
import pytest

from simulator.rest.faults import FaultRule
from simulator.rest.registry import CallPhase
from simulator.rest.respx_routes import FakeVoiceApi, UnroutedHost

TOKEN_URL = "https://api.bandwidth.com/api/v1/oauth2/token"
TRANSFER = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Bxml><Transfer><PhoneNumber>+15555550123</PhoneNumber></Transfer></Bxml>"
)


async def transfer_to_human(
    client: httpx.AsyncClient, account_id: str, call_id: str, client_id: str, secret: str
) -> httpx.Response:
    """A bot's tool function as users write them: a token, then PUT …/bxml."""
    grant = await client.post(
        TOKEN_URL, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    )
    grant.raise_for_status()
    return await client.put(
        f"https://voice.bandwidth.com/api/v2/accounts/{account_id}/calls/{call_id}/bxml",
        content=TRANSFER,
        headers={
            "Authorization": f"Bearer {grant.json()['access_token']}",
            "Content-Type": "application/xml",
        },
    )


async def test_a_tool_function_transfers_a_live_call(bwsim_voice_api: FakeVoiceApi) -> None:
    """Token and PUT …/bxml reach the fake in-process; the live call is transferred."""
    call = bwsim_voice_api.live_call()
    account = bwsim_voice_api.account
    async with httpx.AsyncClient() as client:
        response = await transfer_to_human(
            client, account.account_id, call.call_id, account.client_id, account.client_secret
        )
    assert response.status_code == 204
    assert call.phase is CallPhase.TRANSFERRED
    assert call.transfer is not None
    assert call.transfer.targets == ("+15555550123",)
    routes = [(e.route, e.status) for e in bwsim_voice_api.journal.entries]
    assert routes == [("token", 200), ("update_bxml", 204)]


async def test_a_tool_function_sees_404_for_an_ended_call(bwsim_voice_api: FakeVoiceApi) -> None:
    """The fake answers 404 for a call that has ended, as Bandwidth does."""
    call = bwsim_voice_api.ended_call()
    account = bwsim_voice_api.account
    async with httpx.AsyncClient() as client:
        response = await transfer_to_human(
            client, account.account_id, call.call_id, account.client_id, account.client_secret
        )
    assert response.status_code == 404
    assert f"Call [{call.call_id}] not found" in response.text
    assert call.transfer is None


def test_a_sync_client_is_answered_too(bwsim_voice_api: FakeVoiceApi) -> None:
    """A blocking httpx client gets the same fake, with a token issued by the handle."""
    call = bwsim_voice_api.live_call()
    url = (
        "https://voice.bandwidth.com/api/v2/accounts/"
        f"{bwsim_voice_api.account.account_id}/calls/{call.call_id}"
    )
    response = httpx.get(url, headers={"Authorization": f"Bearer {bwsim_voice_api.token()}"})
    assert response.status_code == 200
    assert response.json()["state"] == "answered"


def test_faults_apply_to_in_process_requests(bwsim_voice_api: FakeVoiceApi) -> None:
    """A fault rule on the fake answers the tool function's request."""
    bwsim_voice_api.faults.add(FaultRule("update_bxml", status=503))
    call = bwsim_voice_api.live_call()
    url = (
        "https://voice.bandwidth.com/api/v2/accounts/"
        f"{bwsim_voice_api.account.account_id}/calls/{call.call_id}/bxml"
    )
    headers = {
        "Authorization": f"Bearer {bwsim_voice_api.token()}",
        "Content-Type": "application/xml",
    }
    assert httpx.put(url, content=TRANSFER, headers=headers).status_code == 503
    assert call.phase is CallPhase.STREAMING


async def test_another_host_fails_naming_it(bwsim_voice_api: FakeVoiceApi) -> None:
    """A request outside Bandwidth's hosts and loopback fails at once, naming the host."""
    async with httpx.AsyncClient() as client:
        with pytest.raises(UnroutedHost, match=r"host 'api\.example\.com', which is not Bandwidth"):
            await client.get("https://api.example.com/v1/things")
    assert bwsim_voice_api.journal.entries == []


class _Local(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"from loopback")

    def log_message(self, *args: object) -> None:
        pass


def test_loopback_requests_go_through(bwsim_voice_api: FakeVoiceApi) -> None:
    """A request to a server on loopback reaches it, untouched and unjournaled."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Local)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert response.text == "from loopback"
    assert bwsim_voice_api.journal.entries == []
