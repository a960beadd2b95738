"""The fake Voice API answers every Calls operation as Bandwidth's OpenAPI description says.

Requests are drawn from the spec's own request schemas (docs/specs/bandwidth.yml, read by
:mod:`tests.integration.spec_strategies`), broken one field at a time, and hand-picked;
every answer is judged by :class:`~tests.integration.spec_referee.SpecReferee` (openapi-core
over the spec, plus docs/bandwidth.md §4.3's error bodies): a status the spec documents for
the operation and a body valid against its schema. A request the spec refuses must be
refused with 400. The answers the spec does not describe (413, 501) are listed with their
reason in :data:`~tests.integration.spec_referee.NOT_IN_SPEC`.

Where bwsim knowingly takes more than the schema: a null ``…Method`` (the spec's
``nullable`` enums; the referee lets them take null, see ``_null_in_nullable_enums``) and a
``…Method`` in lower case (docs/bandwidth.md §4.7, as BXML's §3.6); breakages here never
draw either.

The OAuth token endpoint is not checked against the spec: bandwidth.yml names only its
``tokenUrl`` (``securitySchemes.OAuth2``) and describes no request or response for it, so
its RFC 6749 answers are checked in tests/integration/test_voice_api.py instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from simulator.rest import voice_api
from simulator.rest.registry import Call
from simulator.rest.routes import Route
from tests.conftest import ThreadedFake
from tests.integration.spec_referee import Exchange, SpecMismatch, referee
from tests.integration.spec_strategies import Breakage, breakages, broken, valid_value
from tests.integration.test_voice_api import bearer, token_for

FEW = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
"""Few examples each: the module must stay cheap on CI (a few seconds in all)."""

BREAKS = settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
"""Every breakage of a schema is tried on each example's body, so a few bodies suffice; no
shrinking, since a failure already lists every field the fake let through."""

R = referee()
CREATE_CALL = R.schema("createCall")
UPDATE_CALL = R.schema("updateCall")
BXML_EXAMPLES = [
    ex["value"]
    for ex in R.resolve(R.spec["components"]["requestBodies"]["updateCallBxmlRequest"])["content"][
        "application/xml"
    ]["examples"].values()
]


def send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    content: bytes | str | None = None,
    content_type: str | None = None,
    query: Mapping[str, str] | None = None,
) -> Exchange:
    """Send one request to the fake and return it with its answer, as the referee reads them."""
    headers = bearer(token) if token else {}
    if body is not None:
        content = json.dumps(body)
        content_type = content_type or "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    raw = content.encode() if isinstance(content, str) else (content or b"")
    r = client.request(method, path, content=raw, headers=headers, params=dict(query or {}))
    return Exchange(
        method=method,
        path=path,
        query=dict(query or {}),
        content_type=content_type,
        body=raw,
        status=r.status_code,
        response_body=r.content,
        response_type=r.headers.get("content-type"),
        response_headers=dict(r.headers),
    )


def judged(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Exchange:
    """Send, and fail unless the answer is one the spec documents for the operation."""
    exchange = send(client, method, path, **kwargs)
    R.check(exchange)
    return exchange


def refused_if_spec_refuses(exchange: Exchange) -> None:
    """A request whose parameters or body the spec refuses must not succeed: 400."""
    errors = R.request_errors(exchange)
    if errors:
        assert exchange.status == 400, (
            f"the spec refuses {exchange.method} {exchange.path} ({errors[0]}) "
            f"but the fake answered {exchange.status}"
        )


def judged_breakage(
    client: httpx.Client, method: str, path: str, token: str, body: Any, breakage: Breakage
) -> Exchange:
    """Send ``body`` broken by ``breakage``: the spec must refuse it, the answer be documented."""
    ex = judged(client, method, path, token=token, body=broken(body, breakage))
    assert R.request_errors(ex), f"the breakage {breakage} does not break the schema"
    return ex


class World:
    """A reset fake with a token, a live, a ringing and an ended call of the default account."""

    def __init__(self, fake: ThreadedFake, client: httpx.Client) -> None:
        fake.call(fake.fake.reset)
        reg = fake.fake.registry
        self.account = fake.fake.default_account
        self.token = token_for(client, fake)

        def make() -> dict[str, Call]:
            live = reg.create_call(self.account.account_id)
            reg.answer(live.call_id)
            ended = reg.create_call(self.account.account_id)
            reg.answer(ended.call_id)
            reg.end(ended.call_id, "hangup")
            ringing = reg.create_call(self.account.account_id)
            return {"live": live, "ended": ended, "ringing": ringing}

        self.calls = fake.call(make)

    def calls_path(self) -> str:
        return f"/api/v2/accounts/{self.account.account_id}/calls"

    def call_path(self, which: str) -> str:
        call_id = self.calls[which].call_id if which in self.calls else "c-no-such-call"
        return f"{self.calls_path()}/{call_id}"


WHICH_CALL = st.sampled_from(["live", "ended", "ringing", "unknown"])


@pytest.fixture
def world(fake_api: ThreadedFake, api_client: httpx.Client) -> World:
    """The calls every test acts on."""
    return World(fake_api, api_client)


def create_bodies(application_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Create Call bodies from the spec's schema, often with numbers and application that work."""
    drawn = valid_value(CREATE_CALL, R.resolve)
    good = st.fixed_dictionaries(
        {
            "to": st.sampled_from(["+15550100001", "sip:callee@bwsim.example"]),
            "from": st.just("+15550100002"),
            "applicationId": st.just(application_id),
        }
    )
    return st.one_of(drawn, st.builds(lambda d, g: {**d, **g}, drawn, good))


# -- createCall -------------------------------------------------------------------------


@FEW
@given(data=st.data())
def test_create_call_answers_as_the_spec_says(
    data: st.DataObject, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """A createCall with spec-drawn bodies answers a documented status and a valid body."""
    w = World(fake_api, api_client)
    body = data.draw(create_bodies(w.account.application_id))
    ex = judged(api_client, "POST", w.calls_path(), token=w.token, body=body)
    refused_if_spec_refuses(ex)
    if ex.status == 201:
        created = json.loads(ex.response_body)
        assert ex.response_headers["location"] == created["callUrl"]


@BREAKS
@given(data=st.data())
def test_create_call_refuses_what_the_spec_refuses(
    data: st.DataObject, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """A createCall with any one field broken against the schema answers 400 voiceApiError."""
    w = World(fake_api, api_client)
    body = data.draw(create_bodies(w.account.application_id))
    wrong = [
        f"{breakage}: {ex.status}"
        for breakage in breakages(CREATE_CALL, R.resolve)
        if (
            ex := judged_breakage(api_client, "POST", w.calls_path(), w.token, body, breakage)
        ).status
        != 400
    ]
    assert not wrong, "the fake did not refuse, with 400: " + "; ".join(wrong)


# -- updateCall -------------------------------------------------------------------------


@FEW
@given(data=st.data())
def test_update_call_answers_as_the_spec_says(
    data: st.DataObject, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """An updateCall with spec-drawn bodies on any call answers as documented."""
    w = World(fake_api, api_client)
    body = data.draw(valid_value(UPDATE_CALL, R.resolve))
    which = data.draw(WHICH_CALL)
    ex = judged(api_client, "POST", w.call_path(which), token=w.token, body=body)
    refused_if_spec_refuses(ex)
    active = body.get("state") in (None, "active")
    prose_ok = (
        bool(body.get("redirectUrl"))
        if active
        else not any(body.get(k) is not None for k in ("redirectUrl", "redirectMethod", "tag"))
    )
    if which == "live" and prose_ok:
        assert ex.status == 200, f"a body the spec accepts was refused: {ex.response_body!r}"


@BREAKS
@given(data=st.data())
def test_update_call_refuses_what_the_spec_refuses(
    data: st.DataObject, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """An updateCall with any one field broken against the schema answers 400 on a live call."""
    w = World(fake_api, api_client)
    body = data.draw(valid_value(UPDATE_CALL, R.resolve))
    wrong = [
        f"{breakage}: {ex.status}"
        for breakage in breakages(UPDATE_CALL, R.resolve)
        if (
            ex := judged_breakage(api_client, "POST", w.call_path("live"), w.token, body, breakage)
        ).status
        != 400
    ]
    assert not wrong, "the fake did not refuse, with 400: " + "; ".join(wrong)


# -- updateCallBxml, getCallState, listCalls -------------------------------------------

BXML_BODIES = st.one_of(
    st.sampled_from(BXML_EXAMPLES),
    st.sampled_from(
        [
            "<Bxml><SpeakSentence>Hello</SpeakSentence></Bxml>",
            "<Bxml><Hangup/></Bxml>",
            "<Response><Hangup/></Response>",
            "<Bxml><Nope/></Bxml>",
            "not xml",
            "",
        ]
    ),
)


@FEW
@given(data=st.data())
def test_update_call_bxml_answers_as_the_spec_says(
    data: st.DataObject, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """An updateCallBxml with the spec's examples and others, on any call, answers as documented."""
    w = World(fake_api, api_client)
    which = data.draw(WHICH_CALL)
    bxml = data.draw(BXML_BODIES)
    path = w.call_path(which) + "/bxml"
    judged(api_client, "PUT", path, token=w.token, content=bxml, content_type="application/xml")


QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "to": st.sampled_from(["+15550100001", "%2b19195551234"]),
        "from": st.sampled_from(["+15550100002", "x"]),
        "minStartTime": st.just("2022-06-21T19:13:21Z"),
        "maxStartTime": st.just("2099-06-21T19:13:21Z"),
        "disconnectCause": st.sampled_from(["hangup", "timeout"]),
        "pageSize": st.one_of(st.integers(-2, 10_002).map(str), st.just("many")),
    },
)


@FEW
@given(data=st.data())
def test_get_call_state_and_list_calls_answer_as_the_spec_says(
    data: st.DataObject, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """A getCallState on any call and a listCalls with spec parameters answer as documented."""
    w = World(fake_api, api_client)
    judged(api_client, "GET", w.call_path(data.draw(WHICH_CALL)), token=w.token)
    query = data.draw(QUERIES)
    ex = judged(api_client, "GET", w.calls_path(), token=w.token, query=query)
    refused_if_spec_refuses(ex)


# -- hand-picked requests Bandwidth refuses --------------------------------------------


def test_hand_picked_bad_requests_are_refused_as_documented(
    world: World, fake_api: ThreadedFake, api_client: httpx.Client
) -> None:
    """No token, a foreign account, wrong content types, bad JSON, unknown calls: documented."""
    w = world
    foreign = fake_api.call(fake_api.fake.registry.create_account)
    foreign_calls = f"/api/v2/accounts/{foreign.account_id}/calls"
    live = w.call_path("live")
    cases: list[tuple[int, str, str, dict[str, Any]]] = [
        (401, "GET", live, {}),
        (401, "GET", live, {"token": "made-up"}),
        (403, "GET", foreign_calls, {"token": w.token}),
        (403, "POST", foreign_calls, {"token": w.token, "body": {}}),
        (
            415,
            "POST",
            live,
            {
                "token": w.token,
                "content": "state=completed",
                "content_type": "application/x-www-form-urlencoded",
            },
        ),
        (
            415,
            "PUT",
            live + "/bxml",
            {"token": w.token, "content": "<Bxml/>", "content_type": "text/plain"},
        ),
        (415, "POST", w.calls_path(), {"token": w.token, "content": "{}"}),
        (400, "POST", live, {"token": w.token, "content": "{", "content_type": "application/json"}),
        (400, "POST", live, {"token": w.token, "body": ["state", "completed"]}),
        (400, "POST", w.calls_path(), {"token": w.token, "body": "a string"}),
        (404, "POST", w.call_path("unknown"), {"token": w.token, "body": {"state": "completed"}}),
        (
            409,
            "PUT",
            w.call_path("ringing") + "/bxml",
            {"token": w.token, "content": "<Bxml/>", "content_type": "application/xml"},
        ),
        (405, "DELETE", live, {"token": w.token}),
        (405, "PUT", w.calls_path(), {"token": w.token}),
        (404, "GET", f"/api/v2/accounts/{w.account.account_id}/call", {"token": w.token}),
        (501, "GET", f"/api/v2/accounts/{w.account.account_id}/conferences", {"token": w.token}),
        (413, "POST", live, {"token": w.token, "body": {"tag": "x" * 70_000}}),
    ]
    for status, method, path, kwargs in cases:
        ex = judged(api_client, method, path, **kwargs)
        assert ex.status == status, f"{method} {path}: {ex.status} {ex.response_body!r}"


# -- the referee catches a wrong fake --------------------------------------------------


@pytest.mark.parametrize(
    ("route", "status", "payload", "reason"),
    [
        (Route.CREATE_CALL, 201, {"callId": "c-1"}, "'accountId' is a required property"),
        (Route.GET_CALL, 200, {"callId": "c-1", "state": 3}, "3 is not of type 'string'"),
        (Route.UPDATE_CALL, 202, None, "status 202 is not documented for this operation"),
        (Route.UPDATE_CALL, 200, {"ok": True}, "documented with no body"),
        (Route.UPDATE_BXML, 200, None, "status 200 is not documented for this operation"),
        (Route.GET_CALL, 404, {"error": "gone"}, "the error body has no string 'type'"),
    ],
)
def test_a_broken_fake_route_is_caught(
    world: World,
    fake_api: ThreadedFake,
    api_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    route: Route,
    status: int,
    payload: Any,
    reason: str,
) -> None:
    """A fake route answering a wrong body or status fails, naming the operation and fault."""
    app: Any = fake_api.app

    async def answer(request: Any) -> Any:
        if payload is None:
            return voice_api._Response(status)
        return voice_api._Response.json(status, payload)

    monkeypatch.setitem(app._handlers, route, answer)
    w = world
    requests: dict[Route, tuple[str, str, dict[str, Any]]] = {
        Route.CREATE_CALL: ("POST", w.calls_path(), {"body": {}}),
        Route.GET_CALL: ("GET", w.call_path("live"), {}),
        Route.UPDATE_CALL: ("POST", w.call_path("live"), {"body": {"state": "completed"}}),
        Route.UPDATE_BXML: (
            "PUT",
            w.call_path("live") + "/bxml",
            {"content": "<Bxml/>", "content_type": "application/xml"},
        ),
    }
    method, path, kwargs = requests[route]
    operation = R.operation(method, path)
    assert operation is not None
    with pytest.raises(SpecMismatch) as caught:
        judged(api_client, method, path, token=w.token, **kwargs)
    message = str(caught.value)
    assert operation.label() in message
    assert reason in message
