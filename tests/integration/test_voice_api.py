"""The fake OAuth endpoint and Voice API answer as Bandwidth does, over real HTTP.

Contract (docs/bandwidth.md §4): Basic client credentials buy a Bearer token; the
token works only for its own account; an ended or foreign call is 404; malformed bodies
400; wrong content types 415; error bodies are ``{type, description, id}``; everything
is journaled, and requests the fake has no route for are violations.
"""

from __future__ import annotations

import httpx
import pytest

from simulator.rest.faults import FaultRule
from simulator.rest.registry import Account, Call, CallPhase
from tests.conftest import ThreadedFake

TOKEN = "/api/v1/oauth2/token"


def token_for(client: httpx.Client, fake: ThreadedFake, account: Account | None = None) -> str:
    """Fetch a Bearer token for the account (default: the fake's default)."""
    acc = account or fake.fake.default_account
    r = client.post(
        TOKEN, auth=(acc.client_id, acc.client_secret), data={"grant_type": "client_credentials"}
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def live_call(fake: ThreadedFake, account: Account | None = None) -> Call:
    """Create and answer a call in the account, on the fake's loop."""
    acc = account or fake.fake.default_account

    def make() -> Call:
        call = fake.fake.registry.create_call(acc.account_id)
        fake.fake.registry.answer(call.call_id)
        return call

    return fake.call(make)


def call_url(call: Call) -> str:
    """The Voice API path of a call."""
    return f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}"


def bearer(token: str) -> dict[str, str]:
    """An Authorization header with the token."""
    return {"Authorization": f"Bearer {token}"}


def test_token_issued_for_valid_client_credentials(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """Basic client credentials with grant client_credentials get a Bearer token."""
    acc = fake_api.fake.default_account
    r = api_client.post(
        TOKEN, auth=(acc.client_id, acc.client_secret), data={"grant_type": "client_credentials"}
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["expires_in"] == 3600
    entry = fake_api.fake.journal.find(route="token")[0]
    assert entry.client_id == acc.client_id
    assert entry.headers["authorization"] == "Basic ***"


def test_token_refused_for_wrong_secret(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A wrong client secret gets 401 invalid_client."""
    acc = fake_api.fake.default_account
    r = api_client.post(
        TOKEN, auth=(acc.client_id, "nope"), data={"grant_type": "client_credentials"}
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_token_refused_for_wrong_grant(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A grant other than client_credentials gets 400 unsupported_grant_type."""
    acc = fake_api.fake.default_account
    r = api_client.post(
        TOKEN, auth=(acc.client_id, acc.client_secret), data={"grant_type": "password"}
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_hangup_completes_call_then_404(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """state=completed hangs an answered call up (200); a second hang-up is 404."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
    assert r.status_code == 200
    assert call.phase is CallPhase.DISCONNECTED and call.disconnect_cause == "hangup"
    again = api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
    assert again.status_code == 404
    assert set(again.json()) == {"type", "description", "id"}


def test_ended_call_status_is_configurable(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """With ended_call_status=409 a finished call answers 409 instead of 404."""
    fake_api.fake.settings.ended_call_status = 409
    try:
        call = live_call(fake_api)
        token = token_for(api_client, fake_api)
        api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
        r = api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
        assert r.status_code == 409
    finally:
        fake_api.fake.settings.ended_call_status = 404


def test_missing_bearer_is_401(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A Voice API request without credentials is 401 authentication-error."""
    call = live_call(fake_api)
    r = api_client.post(call_url(call), json={"state": "completed"})
    assert r.status_code == 401
    assert r.json()["type"] == "authentication-error"
    assert call.active


def test_expired_token_is_401(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A token a test expired no longer works."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    fake_api.call(fake_api.fake.expire_tokens)
    r = api_client.get(call_url(call), headers=bearer(token))
    assert r.status_code == 401
    assert "expired" in r.json()["description"]


def test_token_of_other_account_is_403(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A token used on another account's path is 403, and the call stays up."""
    other = fake_api.call(fake_api.fake.registry.create_account)
    call = live_call(fake_api)
    token = token_for(api_client, fake_api, other)
    r = api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
    assert r.status_code == 403
    assert call.active


def test_call_of_other_account_is_404(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A call id that exists in another account is 404 through this account."""
    other = fake_api.call(fake_api.fake.registry.create_account)
    victim = live_call(fake_api, other)
    token = token_for(api_client, fake_api)
    acc = fake_api.fake.default_account.account_id
    r = api_client.post(
        f"/api/v2/accounts/{acc}/calls/{victim.call_id}",
        json={"state": "completed"},
        headers=bearer(token),
    )
    assert r.status_code == 404
    assert victim.active


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"state": "sleeping"}', "application/json", 400),
        (b'{"state": "completed", "redirectUrl": "https://x"}', "application/json", 400),
        (b'{"state": "active"}', "application/json", 400),
        (b'{"state": "completed"}', "text/plain", 415),
    ],
)
def test_malformed_update_is_rejected(
    api_client: httpx.Client, fake_api: ThreadedFake, content: bytes, ctype: str, status: int
) -> None:
    """Malformed update bodies are 400 and wrong content types 415; the call stays up."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.post(
        call_url(call), content=content, headers={**bearer(token), "Content-Type": ctype}
    )
    assert r.status_code == status
    assert call.active


def test_redirect_is_recorded(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """state=active with redirectUrl is 200 and recorded on the call."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.post(
        call_url(call), json={"redirectUrl": "https://bot/redirect"}, headers=bearer(token)
    )
    assert r.status_code == 200
    assert call.redirects == [{"redirectUrl": "https://bot/redirect"}]


TRANSFER = (
    '<?xml version="1.0" encoding="UTF-8"?><Bxml><Transfer transferCallerId="+15555550100">'
    "<PhoneNumber>+19195550123</PhoneNumber></Transfer></Bxml>"
)


def test_transfer_hands_call_on_and_later_hangup_is_404(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """PUT /bxml with <Transfer> is 204, transfers the call, and a later hang-up gets 404."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    headers = {**bearer(token), "Content-Type": "application/xml"}
    r = api_client.put(call_url(call) + "/bxml", content=TRANSFER, headers=headers)
    assert r.status_code == 204
    assert call.phase is CallPhase.TRANSFERRED
    assert call.transfer is not None and call.transfer.targets == ("+19195550123",)
    hang = api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
    assert hang.status_code == 404


def test_bxml_update_with_response_root_is_400(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """PUT /bxml with a <Response> root is 400 and the message names the rule."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    xml = TRANSFER.replace("Bxml>", "Response>")
    r = api_client.put(
        call_url(call) + "/bxml",
        content=xml,
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    assert r.status_code == 400
    assert "<Bxml>" in r.json()["description"]
    assert call.active


def test_bxml_update_needs_xml_content_type(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """PUT /bxml with a JSON content type is 415."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.put(
        call_url(call) + "/bxml",
        content=TRANSFER,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert r.status_code == 415


def test_bxml_update_over_64kb_is_400(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A BXML document over 64 KB is refused."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    pad = "<!--" + "x" * 70_000 + "-->"
    r = api_client.put(
        call_url(call) + "/bxml",
        content=TRANSFER.replace("<Bxml>", "<Bxml>" + pad),
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    assert r.status_code == 400
    assert call.active


def test_get_call_returns_state_object(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """GET returns Bandwidth's callState object."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.get(call_url(call), headers=bearer(token))
    assert r.status_code == 200
    body = r.json()
    assert body["callId"] == call.call_id
    assert body["state"] == "answered"


def test_unrouted_request_is_a_violation(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A request the fake has no route for is recorded as a violation and fails the check."""
    r = api_client.get("/api/v2/nowhere")
    assert r.status_code == 404
    journal = fake_api.fake.journal
    assert [v.kind for v in journal.violations] == ["unrouted-request"]
    with pytest.raises(AssertionError, match="no route"):
        journal.raise_violations()


def test_fault_token_500_once(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A token fault fires once, then the endpoint works again."""
    fake_api.fake.faults.add(FaultRule("token", status=500, times=1))
    acc = fake_api.fake.default_account
    data = {"grant_type": "client_credentials"}
    first = api_client.post(TOKEN, auth=(acc.client_id, acc.client_secret), data=data)
    second = api_client.post(TOKEN, auth=(acc.client_id, acc.client_secret), data=data)
    assert (first.status_code, second.status_code) == (500, 200)
    assert fake_api.fake.journal.find(route="token")[0].fault == "token:500"


def test_fault_429_carries_retry_after(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A 429 fault answers with its Retry-After header and leaves the call untouched."""
    fake_api.fake.faults.add(FaultRule("update_bxml", status=429, headers={"Retry-After": "2"}))
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.put(
        call_url(call) + "/bxml",
        content=TRANSFER,
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert call.active


def test_fault_drop_closes_connection(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A dropped-connection fault makes the client see a broken response."""
    fake_api.fake.faults.add(FaultRule("update_call", drop=True))
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    with pytest.raises(httpx.HTTPError):
        api_client.post(call_url(call), json={"state": "completed"}, headers=bearer(token))
    assert call.active


def test_seeded_probability_faults_repeat() -> None:
    """Two injectors with the same seed fire on the same requests."""
    from simulator.rest.faults import FaultInjector

    def pattern() -> list[bool]:
        inj = FaultInjector()
        inj.add(FaultRule("update_call", status=503, probability=0.5, seed=42))
        return [inj.match("update_call") is not None for _ in range(40)]

    assert pattern() == pattern()
    assert 5 < sum(pattern()) < 35
