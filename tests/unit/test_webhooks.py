"""Unit tests for the webhook bodies and sender: builders, ids, validation, signing, redaction.

Bodies are checked against the official ``bandwidth-sdk`` callback models (an acceptance
criterion: every webhook body the simulator sends parses with them). Sender logic that
needs no real socket runs over ``httpx.MockTransport``; the real-HTTP contract is in
``tests/integration/test_webhooks_http.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import bandwidth.models
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.call.webhook_sender import send_webhook
from simulator.errors import ConfigError
from simulator.protocol import webhook_bodies
from simulator.protocol.webhook_auth import EXTENSION_SIGNATURE_HEADER, AuthMode, WebhookAuth
from simulator.protocol.webhook_bodies import (
    ACCOUNT_ID_RE,
    APPLICATION_ID_RE,
    CALL_ID_RE,
    STREAM_ID_RE,
    CallInfo,
    InvalidWebhookBody,
    StreamInfo,
    answer_body,
    disconnect_body,
    dtmf_body,
    gather_body,
    initiate_body,
    iso_duration,
    iso_timestamp,
    media_stream_rejected_body,
    media_stream_started_body,
    media_stream_stopped_body,
    new_account_id,
    new_application_id,
    new_call_id,
    new_stream_id,
    redirect_body,
    transfer_answer_body,
    transfer_complete_body,
    transfer_disconnect_body,
)
from simulator.protocol.webhook_validation import validate_body

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
UNRESERVED = set(string.ascii_letters + string.digits + "-._~")

SDK_MODEL = {
    "initiate": "InitiateCallback",
    "answer": "AnswerCallback",
    "disconnect": "DisconnectCallback",
    "redirect": "RedirectCallback",
    "gather": "GatherCallback",
    "dtmf": "DtmfCallback",
    "transferAnswer": "TransferAnswerCallback",
    "transferComplete": "TransferCompleteCallback",
    "transferDisconnect": "TransferDisconnectCallback",
    # bandwidth-sdk 23.3.1 has no mediaStream* models; AnswerCallback has their common fields.
    "mediaStreamStarted": "AnswerCallback",
    "mediaStreamStopped": "AnswerCallback",
    "mediaStreamRejected": "AnswerCallback",
}
STREAM_ONLY_FIELDS = {"mediaStream", "cause", "errorMessage", "originalMediaStream"}


def _inbound() -> CallInfo:
    return CallInfo.new_inbound("+15551230000", "+15559870000", start_time=T0)


def _answered() -> CallInfo:
    return _inbound().answered(T0 + timedelta(seconds=1))


def _outbound() -> CallInfo:
    return CallInfo(
        account_id=new_account_id(),
        application_id=new_application_id(),
        call_id=new_call_id(),
        from_="+15551230000",
        to="+15559870000",
        start_time=T0,
        direction="outbound",
        enqueued_time=T0 - timedelta(seconds=1),
        tag="campaign-7",
    )


def _b_leg() -> CallInfo:
    return _answered().transfer_leg(
        "+15554443333", start_time=T0 + timedelta(seconds=5), answer_time=T0 + timedelta(seconds=8)
    )


def _stream(name: str = "") -> StreamInfo:
    return StreamInfo(
        new_stream_id(),
        "wss://bot.example/ws?token=abc",
        T0 + timedelta(seconds=1),
        name=name,
        tracks=("inbound", "outbound"),
    )


# Every body builder, with the variants that add optional fields.
BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "initiate": lambda: initiate_body(_inbound(), T0),
    "initiate-full": lambda: initiate_body(
        CallInfo(
            account_id="9900000",
            application_id=new_application_id(),
            call_id=new_call_id(),
            from_="+15551230000",
            to="+15559870000",
            start_time=T0,
            sip_call_id="c95ac8d6e1a31c52eb38f419893c151633ec68f8d@sbc.bandwidth.com",
            uui="bXl1dWk=;encoding=base64",
            diversion={"origTo": "+15550001111", "reason": "unconditional"},
            stir_shaken={"verstat": "TN-Verification-Passed", "attestationIndicator": "A"},
        ),
        T0,
    ),
    "answer": lambda: answer_body(_outbound(), T0 + timedelta(seconds=3)),
    "disconnect": lambda: disconnect_body(_answered(), "hangup", T0 + timedelta(seconds=60)),
    "disconnect-error": lambda: disconnect_body(
        _outbound(), "busy", T0 + timedelta(seconds=2), "Callee is busy"
    ),
    "redirect": lambda: redirect_body(_answered(), T0 + timedelta(seconds=9)),
    "redirect-b-leg": lambda: redirect_body(_b_leg(), T0 + timedelta(seconds=9)),
    "gather": lambda: gather_body(_answered(), "123", "#", T0 + timedelta(seconds=9)),
    "gather-b-leg": lambda: gather_body(_b_leg(), "", None, T0 + timedelta(seconds=9)),
    "gather-timeout": lambda: gather_body(_answered(), "", "", T0 + timedelta(seconds=9)),
    "dtmf": lambda: dtmf_body(_answered(), "5", T0 + timedelta(seconds=4)),
    "dtmf-b-leg": lambda: dtmf_body(_b_leg(), "#", T0 + timedelta(seconds=4)),
    "transfer_answer": lambda: transfer_answer_body(_b_leg(), T0 + timedelta(seconds=8)),
    "transfer_complete": lambda: transfer_complete_body(
        _answered(), "+15554443333", "busy", T0 + timedelta(seconds=9), error_message="busy"
    ),
    "transfer_disconnect": lambda: transfer_disconnect_body(
        _b_leg(), "hangup", T0 + timedelta(seconds=30)
    ),
    "media_stream_started": lambda: media_stream_started_body(
        _answered(), _stream(), T0 + timedelta(seconds=1)
    ),
    "media_stream_stopped": lambda: media_stream_stopped_body(
        _answered(), _stream(), "closed", T0 + timedelta(seconds=113.217)
    ),
    "media_stream_stopped-error": lambda: media_stream_stopped_body(
        _answered(), _stream(), "connection-error", T0 + timedelta(seconds=2), "refused"
    ),
    "media_stream_rejected": lambda: media_stream_rejected_body(
        _answered(),
        _stream("example_stream"),
        "duplicate",
        "A stream with the name example_stream already exists",
        T0 + timedelta(seconds=2),
        original_stream=_stream("example_stream"),
    ),
}


def test_every_public_builder_is_exercised() -> None:
    """Each ``*_body`` function in ``__all__`` has at least one entry in BUILDERS."""
    public = {
        name.removesuffix("_body")
        for name in webhook_bodies.__all__
        if name.endswith("_body") and name != "validate_body"
    }
    covered = {key.split("-")[0] for key in BUILDERS}
    assert public == covered


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_builder_output_parses_with_the_sdk_model(key: str) -> None:
    """Every builder's body parses with its bandwidth-sdk model and has no unknown field."""
    body = BUILDERS[key]()
    event_type = body["eventType"]
    model_cls = getattr(bandwidth.models, SDK_MODEL[event_type])
    model = model_cls.from_dict(json.loads(json.dumps(body)))
    extra = set(model.additional_properties)
    assert extra <= (STREAM_ONLY_FIELDS if event_type.startswith("mediaStream") else set())
    assert model.call_id == body["callId"]
    assert model.event_time == datetime.fromisoformat(body["eventTime"])
    assert validate_body(event_type, body) is not None


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_builder_timestamps_are_utc_milliseconds_with_z(key: str) -> None:
    """Every ``*Time`` field, nested ones included, looks like ``2019-06-20T15:56:11.554Z``."""
    body = BUILDERS[key]()
    stamps = [v for k, v in body.items() if k.endswith("Time")]
    for nested in ("mediaStream", "originalMediaStream"):
        if nested in body:
            stamps.append(body[nested]["startTime"])
    assert stamps
    assert all(TIMESTAMP_RE.fullmatch(s) for s in stamps), stamps


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_call_url_is_derived_from_account_and_call(key: str) -> None:
    """``callUrl`` is the Voice API URL of the call the body is about."""
    body = BUILDERS[key]()
    expected = (
        f"https://voice.bandwidth.com/api/v2/accounts/{body['accountId']}/calls/{body['callId']}"
    )
    assert body["callUrl"] == expected


def test_initiate_carries_no_answer_time_or_tag() -> None:
    """An initiate body has neither answerTime nor tag, as Bandwidth's (docs/bandwidth.md §2.3)."""
    body = initiate_body(
        CallInfo.new_inbound("+1", "+2", start_time=T0).answered(T0), T0 + timedelta(seconds=1)
    )
    assert "answerTime" not in body
    assert "tag" not in body


def test_stream_bodies_carry_the_media_stream_object() -> None:
    """The mediaStream object has id, name (default: the id), destination, tracks, type."""
    stream = _stream()
    body = media_stream_started_body(_answered(), stream, T0)
    assert body["mediaStream"] == {
        "id": stream.stream_id,
        "name": stream.stream_id,
        "destination": "wss://bot.example/ws?token=abc",
        "startTime": iso_timestamp(stream.start_time),
        "tracks": ["inbound", "outbound"],
        "type": "WebSocket",
    }


def test_stopped_body_has_cause_and_iso_duration() -> None:
    """A stopped body adds cause and an ISO 8601 duration measured from the stream start."""
    body = BUILDERS["media_stream_stopped"]()
    assert body["cause"] == "closed"
    assert "errorMessage" not in body
    assert body["mediaStream"]["duration"] == "PT1M52.217S"


def test_transfer_b_leg_fields() -> None:
    """A transfer B-leg is outbound, points at its parent and names caller id and target."""
    a_leg = _answered()
    b_leg = a_leg.transfer_leg("+15554443333", start_time=T0)
    body = transfer_disconnect_body(b_leg, "hangup", T0 + timedelta(seconds=4))
    assert body["direction"] == "outbound"
    assert body["parentCallId"] == a_leg.call_id
    assert body["transferCallerId"] == a_leg.from_
    assert body["transferTo"] == "+15554443333"
    assert body["callId"] != a_leg.call_id


def test_error_id_is_a_uuid_when_an_error_message_is_given() -> None:
    """A disconnect with an errorMessage for a failure cause carries a UUID errorId."""
    body = BUILDERS["disconnect-error"]()
    assert uuid.UUID(body["errorId"])
    assert "errorId" not in BUILDERS["disconnect"]()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "PT0.000S"),
        (timedelta(seconds=112.217), "PT1M52.217S"),
        (timedelta(hours=1, minutes=2, seconds=3.5), "PT1H2M3.500S"),
        (timedelta(hours=2), "PT2H0.000S"),
    ],
)
def test_iso_duration(value: timedelta, expected: str) -> None:
    """Durations are ISO 8601 ``PT…S`` with hours and minutes only when non-zero."""
    assert iso_duration(value) == expected


def test_iso_timestamp_converts_to_utc() -> None:
    """An aware datetime in another zone is written in UTC with ``Z``."""
    eastern = datetime(2024, 1, 1, 7, 0, 0, 5000, tzinfo=timezone(timedelta(hours=-5)))
    assert iso_timestamp(eastern) == "2024-01-01T12:00:00.005Z"


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: iso_timestamp(datetime(2024, 1, 1)), id="naive-datetime"),
        pytest.param(lambda: iso_duration(timedelta(seconds=-1)), id="negative-duration"),
        pytest.param(lambda: initiate_body(_outbound(), T0), id="initiate-outbound"),
        pytest.param(lambda: answer_body(_inbound(), T0), id="answer-inbound"),
        pytest.param(lambda: disconnect_body(_inbound(), "hangpu", T0), id="unknown-cause"),
        pytest.param(lambda: transfer_disconnect_body(_answered(), "hangup", T0), id="a-leg-given"),
        pytest.param(
            lambda: media_stream_stopped_body(_answered(), _stream(), "error", T0),
            id="stopped-error-without-message",
        ),
        pytest.param(
            lambda: media_stream_stopped_body(_answered(), _stream(), "closed", T0, "why"),
            id="stopped-closed-with-message",
        ),
        pytest.param(
            lambda: media_stream_rejected_body(_answered(), _stream(), "closed", "x", T0),
            id="rejected-bad-cause",
        ),
        pytest.param(lambda: StreamInfo("s", "wss://x", T0, tracks=("both",)), id="bad-track"),
    ],
)
def test_builders_refuse_bad_arguments(build: Callable[[], object]) -> None:
    """Arguments that would produce a body Bandwidth never sends raise InvalidWebhookBody."""
    with pytest.raises(InvalidWebhookBody):
        build()


def _mutate(key: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(BUILDERS[key]()))
    change(body)
    return body


@pytest.mark.parametrize(
    ("event_type", "body", "needle"),
    [
        ("initiate", _mutate("initiate", lambda b: b.update(eventType="answer")), "eventType"),
        ("initiate", _mutate("initiate", lambda b: b.pop("callId")), "missing"),
        ("initiate", _mutate("initiate", lambda b: b.update(callID=b.pop("callId"))), "missing"),
        ("initiate", _mutate("initiate", lambda b: b.update(callid="x")), "spelling"),
        ("initiate", _mutate("initiate", lambda b: b.update(callId=12345)), "InitiateCallback"),
        ("initiate", _mutate("initiate", lambda b: b.update(startTime="later")), "Initiate"),
        ("initiate", _mutate("initiate", lambda b: b.update(direction="sideways")), "Initiate"),
        ("disconnect", _mutate("disconnect", lambda b: b.pop("cause")), "missing"),
        ("initiate", b"{not json", "not JSON"),
        ("initiate", b"[1, 2]", "JSON object"),
        ("ringing", {"eventType": "ringing"}, "no schema"),
        (
            "mediaStreamStarted",
            _mutate("media_stream_started", lambda b: b["mediaStream"].update(type="Socket")),
            "WebSocket",
        ),
        (
            "mediaStreamStarted",
            _mutate(
                "media_stream_started",
                lambda b: b["mediaStream"].update(tracks=[{"name": "inbound"}]),
            ),
            "tracks",
        ),
        (
            "mediaStreamStopped",
            _mutate("media_stream_stopped", lambda b: b["mediaStream"].pop("duration")),
            "duration",
        ),
        (
            "mediaStreamStopped",
            _mutate("media_stream_stopped", lambda b: b.update(errorMessage="x")),
            "errorMessage",
        ),
        (
            "mediaStreamRejected",
            _mutate("media_stream_rejected", lambda b: b.update(cause="closed")),
            "cause",
        ),
    ],
)
def test_validate_body_rejects_off_spec_bodies(
    event_type: str, body: dict[str, Any] | bytes, needle: str
) -> None:
    """validate_body names what is wrong with a body Bandwidth would not send."""
    with pytest.raises(InvalidWebhookBody, match=needle):
        validate_body(event_type, body)


def test_validate_body_accepts_raw_json_bytes() -> None:
    """validate_body parses bytes as JSON, as a fuzzer's or recorder's body arrives."""
    body = BUILDERS["initiate"]()
    model = validate_body("initiate", json.dumps(body).encode())
    assert model.call_id == body["callId"]


# -- identifiers ---------------------------------------------------------------------


@given(count=st.integers(min_value=1, max_value=200))
def test_generated_ids_are_well_formed_and_unique(count: int) -> None:
    """Generated ids match Bandwidth's shapes, use only unreserved characters, never repeat."""
    makers = {
        "call": (new_call_id, CALL_ID_RE),
        "stream": (new_stream_id, STREAM_ID_RE),
        "account": (new_account_id, ACCOUNT_ID_RE),
        "application": (new_application_id, APPLICATION_ID_RE),
    }
    for kind, (make, pattern) in makers.items():
        ids = [make() for _ in range(count)]
        assert all(pattern.fullmatch(i) for i in ids), kind
        assert all(set(i) <= UNRESERVED for i in ids), kind
        if kind != "account":  # 7 digits: a birthday collision is possible and harmless
            assert len(set(ids)) == count, kind
    assert all(len(new_call_id()) == 47 for _ in range(count))
    assert all(len(new_account_id()) == 7 for _ in range(count))
    assert uuid.UUID(new_call_id()[11:]).version == 4
    assert uuid.UUID(new_stream_id()[11:]).version == 4
    assert uuid.UUID(new_application_id()).version == 4


def test_call_id_pattern_matches_bandwidth_examples() -> None:
    """The id patterns accept the ids of Bandwidth's documentation."""
    assert CALL_ID_RE.fullmatch("c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85")
    assert STREAM_ID_RE.fullmatch("s-2a913f94-93e372e2-60da-4c89-beb0-0d3a219b287c")
    assert APPLICATION_ID_RE.fullmatch("7fc9698a-b04a-468b-9e8f-91238c0d0086")
    assert ACCOUNT_ID_RE.fullmatch("9900000")
    assert not CALL_ID_RE.fullmatch("c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85/x")


# -- sender over a mock transport -------------------------------------------------------

SECRET = "a-shared-secret-of-32-characters"


class Recorder:
    """An httpx MockTransport handler that records requests and plays scripted answers."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record ``request``; answer with the next scripted response (the last repeats)."""
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _bxml() -> httpx.Response:
    return httpx.Response(
        200,
        content=b"<Response><Pause duration='1'/></Response>",
        headers={"content-type": "application/xml"},
    )


def _client(recorder: Recorder, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(recorder), **kwargs)


async def test_signature_header_is_hmac_sha256_hex_of_the_exact_body() -> None:
    """The extension header is the hex HMAC-SHA256 of the raw bytes the bot received."""
    recorder = Recorder(_bxml())
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client,
            "http://bot.test/",
            BUILDERS["initiate"](),
            auth=WebhookAuth(),
            signing_secret=SECRET,
        )
    request = recorder.requests[0]
    expected = hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers[EXTENSION_SIGNATURE_HEADER] == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)
    assert exchange.extension_signed


async def test_signature_covers_raw_bytes_bodies_unchanged() -> None:
    """A malformed raw body is sent byte for byte, as JSON, and signed over those bytes."""
    raw = b'{"eventType": "initiate", "callId": \xff'
    recorder = Recorder(_bxml())
    async with _client(recorder) as client:
        await send_webhook(
            client, "http://bot.test/", raw, auth=WebhookAuth(), signing_secret=SECRET
        )
    request = recorder.requests[0]
    assert request.content == raw
    assert request.headers["content-type"] == "application/json"
    expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert request.headers[EXTENSION_SIGNATURE_HEADER] == expected


async def test_no_signature_header_unless_opted_in() -> None:
    """Without signing_secret no signature header is sent: Bandwidth signs no voice webhook."""
    recorder = Recorder(_bxml())
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client, "http://bot.test/", BUILDERS["initiate"](), auth=WebhookAuth()
        )
    assert EXTENSION_SIGNATURE_HEADER not in recorder.requests[0].headers
    assert not exchange.extension_signed


_PASSWORDS = st.text(min_size=1, max_size=40).map(lambda s: "pw-Q7z" + s)


@settings(deadline=None)
@given(password=_PASSWORDS, mode=st.sampled_from(["challenge", "preemptive", "wrong", "scheme"]))
async def test_recorded_exchange_never_contains_the_password(password: str, mode: str) -> None:
    """Neither the password nor its base64 form appears in the exchange or its report."""
    recorder = Recorder(
        httpx.Response(401, headers={"www-authenticate": 'Basic realm="bot"'}), _bxml()
    )
    auth = WebhookAuth(mode=mode, username="bot", password=password)  # type: ignore[arg-type]
    async with _client(recorder) as client:
        exchange = await send_webhook(client, "http://bot.test/", BUILDERS["initiate"](), auth=auth)
    report = json.dumps(exchange.to_dict(), ensure_ascii=False) + repr(exchange) + repr(auth)
    token = base64.b64encode(f"bot:{password}".encode()).decode()
    assert password not in report
    assert token not in report
    sent = [r.headers.get("authorization") for r in recorder.requests]
    assert any(sent), "the credentials were not sent at all"
    recorded = [a.request_headers.get("authorization") for a in exchange.attempts]
    shown = [v for v in recorded if v]
    assert shown
    assert all(v in ("Basic ***", "Bearer ***") for v in shown)


async def test_basic_challenge_is_recognised_among_several() -> None:
    """A WWW-Authenticate offering Bearer and Basic is a Basic challenge (RFC 7235 §4.1)."""
    recorder = Recorder(
        httpx.Response(401, headers={"www-authenticate": 'Bearer realm="x", Basic realm="y"'}),
        _bxml(),
    )
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client,
            "http://bot.test/",
            BUILDERS["initiate"](),
            auth=WebhookAuth(username="u", password="p"),
        )
    assert exchange.outcome == "challenge-ok"
    assert len(recorder.requests) == 2


async def test_non_basic_challenge_loses_the_callback() -> None:
    """A 401 that challenges only for Bearer is not answered with credentials: callback lost."""
    recorder = Recorder(httpx.Response(401, headers={"www-authenticate": "Bearer"}))
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client,
            "http://bot.test/",
            BUILDERS["initiate"](),
            auth=WebhookAuth(username="u", password="p"),
        )
    assert exchange.outcome == "lost-no-challenge"
    assert len(recorder.requests) == 1
    assert exchange.call_would_end_with == "callback-error"


async def test_challenge_without_configured_credentials_says_what_to_pass() -> None:
    """A challenge with no credentials configured is rejected, and the error says to pass them."""
    recorder = Recorder(httpx.Response(401, headers={"www-authenticate": "Basic"}))
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client, "http://bot.test/", BUILDERS["initiate"](), auth=WebhookAuth()
        )
    assert exchange.outcome == "rejected"
    assert len(recorder.requests) == 1
    assert exchange.error is not None
    assert "bwsim has no webhook credentials to send" in exchange.error
    assert "WebhookAuth(username=" in exchange.error
    assert "BANDWIDTH_WEBHOOK_USERNAME and BANDWIDTH_WEBHOOK_PASSWORD" in exchange.error


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("challenge", "bwsim has no webhook credentials to send"),
        ("none", "(what a bot that checks credentials should do)"),
    ],
)
async def test_a_403_names_the_variables_only_when_credentials_were_not_given(
    mode: AuthMode, says: str
) -> None:
    """Challenge mode without credentials: export them; mode none left them out on purpose."""
    recorder = Recorder(httpx.Response(403))
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client, "http://bot.test/", BUILDERS["initiate"](), auth=WebhookAuth(mode)
        )
    assert exchange.outcome == "rejected"
    assert exchange.error is not None
    assert says in exchange.error
    named = "BANDWIDTH_WEBHOOK_USERNAME and BANDWIDTH_WEBHOOK_PASSWORD" in exchange.error
    assert named == (mode == "challenge")


async def test_client_default_authorization_is_not_leaked_in_none_mode() -> None:
    """A client-level Authorization header never rides along when the mode sends none."""
    recorder = Recorder(_bxml())
    async with _client(recorder, headers={"authorization": "Basic c2VjcmV0"}) as client:
        await send_webhook(
            client, "http://bot.test/", BUILDERS["initiate"](), auth=WebhookAuth(mode="none")
        )
    assert "authorization" not in recorder.requests[0].headers


async def test_accepting_a_webhook_without_credentials_is_a_warning() -> None:
    """A bot that answers 200 to an unauthenticated webhook gets a warning naming the fix."""
    recorder = Recorder(_bxml())
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client,
            "http://bot.test/",
            BUILDERS["initiate"](),
            auth=WebhookAuth(username="u", password="p"),
        )
    assert exchange.outcome == "answered"
    assert exchange.accepted_auth == "none"
    assert exchange.warning is not None
    assert "WWW-Authenticate: Basic" in exchange.warning


async def test_sync_webhook_answered_with_json_breaks_the_content_type_rule() -> None:
    """A 200 JSON answer to initiate is delivered but not BXML: content_type_ok is False."""
    recorder = Recorder(httpx.Response(200, json={"ok": True}))
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client, "http://bot.test/", BUILDERS["initiate"](), auth=WebhookAuth()
        )
    assert exchange.outcome == "answered"
    assert exchange.content_type_ok is False
    assert exchange.bxml_text is None
    assert exchange.error is not None
    assert "application/xml" in exchange.error
    assert exchange.rule_broken is not None


async def test_redirects_are_not_followed() -> None:
    """A 3xx answer is recorded as rejected, with one request and no redirect followed."""
    recorder = Recorder(httpx.Response(307, headers={"location": "http://elsewhere.test/"}))
    async with _client(recorder) as client:
        exchange = await send_webhook(
            client, "http://bot.test/", BUILDERS["initiate"](), auth=WebhookAuth()
        )
    assert exchange.outcome == "rejected"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("ftp://bot.test/", {}),
        ("/relative", {}),
        ("http://user:pw@bot.test/", {}),
        ("http://bot.test/", {"method": "PUT"}),
        ("http://bot.test/", {"timeout_s": 0}),
        ("http://bot.test/", {"signing_secret": "short"}),
        ("http://bot.test/", {"signing_secret": SECRET, "method": "GET"}),
    ],
)
async def test_send_webhook_refuses_arguments_that_cannot_make_a_request(
    url: str, kwargs: dict[str, Any]
) -> None:
    """Unusable arguments raise ConfigError before any request is sent."""
    recorder = Recorder(_bxml())
    async with _client(recorder) as client:
        with pytest.raises(ConfigError):
            await send_webhook(client, url, BUILDERS["initiate"](), auth=WebhookAuth(), **kwargs)
    assert recorder.requests == []


async def test_get_with_raw_bytes_is_refused() -> None:
    """Raw bytes cannot be a query string, so GET with bytes raises ConfigError."""
    async with _client(Recorder(_bxml())) as client:
        with pytest.raises(ConfigError, match="POST"):
            await send_webhook(client, "http://bot.test/", b"{}", auth=WebhookAuth(), method="GET")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "preemptive"},
        {"mode": "wrong"},
        {"mode": "scheme"},
        {"mode": "telepathy", "username": "u", "password": "p"},
        {"username": "u"},
        {"username": "a:b", "password": "p"},
    ],
)
def test_webhook_auth_refuses_unusable_settings(kwargs: dict[str, Any]) -> None:
    """Modes that send credentials need both; unknown modes and ':' in a username are refused."""
    with pytest.raises(ConfigError):
        WebhookAuth(**kwargs)


def test_wrong_modes_really_differ_from_the_right_credentials() -> None:
    """The wrong-password and wrong-username headers differ from the correct Basic header."""
    auth = WebhookAuth(mode="wrong", username="bot", password="secret")
    right = auth.header("basic")
    assert right == "Basic " + base64.b64encode(b"bot:secret").decode()
    assert auth.header("basic-wrong-password") != right
    assert auth.header("basic-wrong-username") != right
    assert auth.header("bearer") == "Bearer " + base64.b64encode(b"bot:secret").decode()
