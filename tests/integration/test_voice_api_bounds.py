"""The fake Voice API answers hostile bodies with Bandwidth's 4xx, never 500 or unbounded reads."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from simulator.rest.bodies import MAX_BODY_BYTES, MAX_BXML_BODY_BYTES
from tests.conftest import ThreadedFake
from tests.integration.test_voice_api import bearer, call_url, live_call, token_for

DEEP_BXML = "<Bxml>\n" + "<a>" * 9_000 + "</a>" * 9_000 + "</Bxml>"


def test_deep_bxml_update_is_400_with_bandwidths_body(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """A 63 KB BXML nested 9,000 deep gets 400 {type, description} naming the depth rule."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.put(
        call_url(call) + "/bxml",
        content=DEEP_BXML,
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert {"type", "description"} <= set(body)
    assert "rule depth" in body["description"]
    assert "line 2" in body["description"]
    assert call.active


def test_oversize_json_update_is_413(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """An updateCall body over MAX_BODY_BYTES gets 413 and changes nothing."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    body = json.dumps({"state": "completed", "tag": "x" * MAX_BODY_BYTES})
    r = api_client.post(
        call_url(call), content=body, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert "larger than" in r.json()["description"]
    assert call.active
    entry = fake_api.fake.journal.find(route="update_call")[-1]
    assert entry.status == 413


def test_chunked_oversize_body_is_413(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A body with no Content-Length is read only up to the cap, then answered 413."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    r = api_client.post(
        call_url(call),
        content=chunks(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert call.active


def test_oversize_bxml_update_is_413(api_client: httpx.Client, fake_api: ThreadedFake) -> None:
    """A PUT /bxml body over MAX_BXML_BODY_BYTES gets 413 (below it, the 64 KB rule's 400)."""
    call = live_call(fake_api)
    token = token_for(api_client, fake_api)
    r = api_client.put(
        call_url(call) + "/bxml",
        content="<Bxml>" + " " * MAX_BXML_BODY_BYTES + "</Bxml>",
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    assert r.status_code == 413, r.text
    assert call.active
