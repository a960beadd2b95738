"""The routers' one routing core: who owns a call, which headers go to it, the errors."""

from __future__ import annotations

import json

import httpx

from simulator.rest.call_router import (
    ERROR_TYPE,
    Owner,
    call_id_in,
    call_tag,
    error_body,
    headers_for,
    unreachable,
)
from simulator.rest.fake import FakeBandwidth
from simulator.rest.relay import relayed
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.load_workers import CallRouter, worker_call_ids

CALL = "c-0a1b2c3d-2a9b40e1-7f0c-4a38-9d1e-5b2c7e8f1a23"
OWNER = Owner("worker 7", "http://127.0.0.1:9101", "owners-token")


def test_the_call_id_of_a_voice_api_path_names_its_owner() -> None:
    """A Voice API call path (and its /bxml) yields the call id and its first field."""
    for path in (
        f"/api/v2/accounts/9900000/calls/{CALL}",
        f"/api/v2/accounts/9900000/calls/{CALL}/bxml",
    ):
        assert call_id_in(path) == CALL, path
        assert call_tag(call_id_in(path)) == "0a1b2c3d", path


def test_the_control_api_caller_lines_path_names_its_owner() -> None:
    """``/_bwsim/calls/{id}/caller-lines`` goes to the call's owner, as the Voice API's do."""
    assert call_tag(call_id_in(f"/_bwsim/calls/{CALL}/caller-lines")) == "0a1b2c3d"


def test_a_path_naming_no_call_has_no_owner() -> None:
    """The token route, Create/List Calls and the control API's own paths name no call."""
    for path in (
        "/api/v1/oauth2/token",
        "/api/v2/accounts/9900000/calls",
        "/api/v2/accounts/9900000/calls/",
        "/_bwsim/health",
        "/_bwsim/calls",
    ):
        assert call_id_in(path) is None, path


def test_a_malformed_call_id_has_no_owner() -> None:
    """An id not of Bandwidth's shape (upper case, short tag, no UUID) names no owner."""
    for bad in (
        CALL.upper(),
        "c-0a1b2c-2a9b40e1-7f0c-4a38-9d1e-5b2c7e8f1a23",
        "c-0a1b2c3d-x",
        "call-1",
    ):
        assert call_id_in(f"/api/v2/accounts/9900000/calls/{bad}") is None, bad
        assert call_tag(bad) is None, bad
    assert call_tag(None) is None


def test_our_bearer_token_is_replaced_by_the_owners() -> None:
    """A bearer token the router's side issued (any case of 'Bearer') becomes the owner's."""
    for given in ("Bearer ours", "bearer ours", "BEARER  ours "):
        sent = headers_for(OWNER, [("Authorization", given)], {"ours"}.__contains__)
        assert sent == [("Authorization", "Bearer owners-token")], given


def test_a_token_not_ours_passes_as_it_came() -> None:
    """A bearer token the router never issued, and Basic credentials, reach the owner unchanged."""
    assert headers_for(OWNER, [("authorization", "Bearer forged")], {"ours"}.__contains__) == [
        ("authorization", "Bearer forged")
    ]
    basic = [("authorization", "Basic ours")]
    assert headers_for(OWNER, basic, lambda _: True) == basic


def test_hop_by_hop_headers_are_not_sent_to_the_owner() -> None:
    """Host, the length and the connection's own headers are dropped; the others kept in order."""
    given = [
        ("Host", "router:9050"),
        ("Content-Type", "application/json"),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Content-Length", "12"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"),
        ("X-Trace", "1"),
    ]
    sent = headers_for(OWNER, given, lambda _: False)
    assert sent == [("Content-Type", "application/json"), ("X-Trace", "1")]


def test_an_owners_answer_goes_back_without_its_encoding_and_hop_headers() -> None:
    """The answer loses Content-Encoding (httpx decoded it), the length and the connection."""
    given = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("content-length", "40"),
        ("connection", "close"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]
    kept = [("content-type", "application/json"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
    assert relayed(given) == kept


def test_an_owner_gone_is_named_with_what_to_do() -> None:
    """The router's error is Bandwidth's JSON shape naming the owner, its URL and where to look."""
    description = unreachable(OWNER, httpx.ConnectError("connection refused"))
    body = json.loads(error_body(description))
    assert body["type"] == ERROR_TYPE
    assert "worker 7 (http://127.0.0.1:9101)" in body["description"]
    assert "ConnectError('connection refused')" in body["description"]
    assert "see its log or the run's report" in body["description"]


def test_bwsim_loads_router_finds_a_started_worker_by_the_shared_rule() -> None:
    """``bwsim load``'s router maps a call of worker 2 (Voice or control API) to worker 2."""
    router = CallRouter("worker-token").wrap(VoiceApiApp(FakeBandwidth()))
    router.workers.update({2: "http://127.0.0.1:9102"})
    call_id = worker_call_ids(2)()
    expected = Owner("worker 2", "http://127.0.0.1:9102", "worker-token")
    assert router.owner(f"/api/v2/accounts/9900000/calls/{call_id}") == expected
    assert router.owner(f"/_bwsim/calls/{call_id}/caller-lines") == expected
    assert router.owner(f"/api/v2/accounts/9900000/calls/{worker_call_ids(3)()}") is None
    assert router.owner("/api/v1/oauth2/token") is None


def test_bwsim_loads_router_replaces_only_the_parents_tokens() -> None:
    """A token the parent's fake issued is ours; one it never issued is not."""
    fake = FakeBandwidth()
    router = CallRouter("worker-token").wrap(VoiceApiApp(fake))
    issued = fake.issue_token(fake.default_account).token
    assert router.ours(issued)
    assert not router.ours("not-a-token")
