"""Properties of the fake Voice API under random request sequences (hypothesis, real HTTP).

Invariants: an ended call never answers 200 again; a token never works for another
account; every request lands in the journal exactly once.
"""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.rest.registry import Call
from tests.conftest import ThreadedFake

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["hangup", "get", "redirect", "bxml", "garbage"]),
        st.sampled_from(["own", "foreign"]),  # which account's token is used
        st.integers(0, 2),  # which call
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=ACTIONS)
def test_api_invariants(actions: list[tuple[str, str, int]], threaded_fake: ThreadedFake) -> None:
    """Ended calls never 200 again, foreign tokens never act, every request is journaled once."""
    fake = threaded_fake
    fake.call(fake.fake.reset)
    reg = fake.fake.registry
    own = fake.fake.default_account
    foreign = fake.call(reg.create_account)

    def make_calls() -> list[Call]:
        out: list[Call] = []
        for _ in range(3):
            c = reg.create_call(own.account_id)
            reg.answer(c.call_id)
            out.append(c)
        return out

    calls = fake.call(make_calls)
    assert fake.server is not None
    ended: set[str] = set()
    sent = 0
    with httpx.Client(base_url=fake.server.base_url, timeout=5) as client:
        tokens: dict[str, str] = {}
        for name, acc in (("own", own), ("foreign", foreign)):
            r = client.post(
                "/api/v1/oauth2/token",
                auth=(acc.client_id, acc.client_secret),
                data={"grant_type": "client_credentials"},
            )
            sent += 1
            tokens[name] = r.json()["access_token"]
        for action, who, index in actions:
            call = calls[index]
            url = f"/api/v2/accounts/{own.account_id}/calls/{call.call_id}"
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            if action == "hangup":
                r = client.post(url, json={"state": "completed"}, headers=headers)
            elif action == "get":
                r = client.get(url, headers=headers)
            elif action == "redirect":
                r = client.post(url, json={"redirectUrl": "https://b/r"}, headers=headers)
            elif action == "bxml":
                r = client.put(
                    url + "/bxml",
                    content="<Bxml><Transfer><PhoneNumber>+15550100</PhoneNumber></Transfer></Bxml>",
                    headers={**headers, "Content-Type": "application/xml"},
                )
            else:
                r = client.post(url, content=b"\xff\x00", headers=headers)
            sent += 1
            if who == "foreign":
                assert r.status_code == 403, "a token worked for another account"
                continue
            if call.call_id in ended and action != "get":
                assert r.status_code not in (200, 204), "an ended call answered again"
                if action != "garbage":  # garbage is refused for its body (415) first
                    assert r.status_code == 404, "an ended call was not reported gone"
            if action in ("hangup", "bxml") and r.status_code in (200, 204):
                ended.add(call.call_id)
    entries = fake.fake.journal.entries
    assert len(entries) == sent
    assert len({e.seq for e in entries}) == sent
