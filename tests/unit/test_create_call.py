"""Create Call's request body as the spec describes it, and the callee bwsim plays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.protocol.create_call import (
    CalleePlan,
    CreateCallInvalid,
    create_call_response,
    detection_mode,
    parse_create_call,
)

GOOD: dict[str, Any] = {
    "from": "+15555550111",
    "to": "+15555550123",
    "applicationId": "app-1",
    "answerUrl": "https://bot.example/answer",
}


def bad_field(**changes: Any) -> str:
    """The field a body with ``changes`` (None removes a key) is refused for."""
    body = {k: v for k, v in (GOOD | changes).items() if v is not None}
    with pytest.raises(CreateCallInvalid) as info:
        parse_create_call(body)
    return info.value.field


def test_a_minimal_body_is_accepted_with_the_spec_defaults() -> None:
    """The four required fields suffice; methods default to POST, timeouts to 30 and 15 s."""
    wanted = parse_create_call(GOOD)
    assert (wanted.from_, wanted.to, wanted.answer_url) == (
        "+15555550111",
        "+15555550123",
        "https://bot.example/answer",
    )
    assert (wanted.answer_method, wanted.disconnect_method) == ("POST", "POST")
    assert (wanted.call_timeout_s, wanted.callback_timeout_s) == (30.0, 15.0)


@pytest.mark.parametrize("name", ["from", "to", "applicationId", "answerUrl"])
def test_each_required_field_missing_is_named(name: str) -> None:
    """A body without one of the spec's required fields is refused naming that field."""
    assert bad_field(**{name: None}) == name


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"to": "5551234"}, "to"),
        ({"from": "sip:me@example.com"}, "from"),
        ({"answerUrl": "/answer"}, "answerUrl"),
        ({"answerMethod": "PUT"}, "answerMethod"),
        ({"disconnectUrl": "ftp://x"}, "disconnectUrl"),
        ({"callTimeout": 0.5}, "callTimeout"),
        ({"callbackTimeout": 26}, "callbackTimeout"),
        ({"priority": 6}, "priority"),
        ({"tag": "x" * 4097}, "tag"),
        ({"answerUrl": "http://bot.example/a", "username": "u", "password": "p"}, "answerUrl"),
    ],
)
def test_a_bad_value_is_named(changes: dict[str, Any], field: str) -> None:
    """Values outside the spec's formats and ranges are refused naming the field."""
    assert bad_field(**changes) == field


def test_a_sip_uri_is_a_valid_destination() -> None:
    """``to`` may be a SIP URI as well as an E.164 number."""
    assert parse_create_call(GOOD | {"to": "sip:agent@pbx.example"}).to == "sip:agent@pbx.example"


def test_a_body_that_is_not_an_object_is_refused() -> None:
    """A JSON list is not a createCall body."""
    with pytest.raises(CreateCallInvalid, match="JSON object"):
        parse_create_call([GOOD])


def test_the_response_has_every_required_field_of_create_call_response() -> None:
    """The 201 body holds the spec's required fields, the callUrl built from the ids."""
    wanted = parse_create_call(GOOD | {"answerMethod": "get", "tag": "t"})
    body = create_call_response(
        wanted, account_id="9900000", call_id="c-1", enqueued_time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    required = {"accountId", "answerMethod", "answerUrl", "applicationId", "callId", "callUrl"}
    assert required | {"disconnectMethod", "from", "to"} <= body.keys()
    assert body["callUrl"].endswith("/api/v2/accounts/9900000/calls/c-1")
    assert (body["answerMethod"], body["tag"]) == ("GET", "t")


def test_the_callee_rings_the_default_time_then_answers() -> None:
    """An answering callee rings one second unless told; it has no end cause."""
    plan = CalleePlan()
    assert plan.ring_s(parse_create_call(GOOD)) == 1.0
    assert plan.end_cause is None


@pytest.mark.parametrize(
    ("answer", "cause"), [("busy", "busy"), ("no-answer", "timeout"), ("rejected", "rejected")]
)
def test_a_callee_that_never_answers_ends_with_its_cause(answer: str, cause: str) -> None:
    """busy, no-answer and rejected end the call with Bandwidth's disconnect causes."""
    assert CalleePlan(answer).end_cause == cause


def test_no_answer_rings_for_the_request_call_timeout() -> None:
    """Without ring_ms, a callee that does not answer rings for the request's callTimeout."""
    wanted = parse_create_call(GOOD | {"callTimeout": 7})
    assert CalleePlan("no-answer").ring_s(wanted) == 7.0
    assert CalleePlan("no-answer", ring_ms=250).ring_s(wanted) == 0.25


@pytest.mark.parametrize(("answer", "ring_ms"), [("voicemail", None), ("answered", -1.0)])
def test_a_bad_plan_is_refused(answer: str, ring_ms: float | None) -> None:
    """An unknown answer or a negative ring time is refused, naming the value."""
    with pytest.raises(ValueError, match=r"answer must be one of|ring_ms must be"):
        CalleePlan(answer, ring_ms)


@pytest.mark.parametrize(
    ("detection", "field"),
    [
        ({"mode": "maybe"}, "machineDetection.mode"),
        ({"callbackUrl": "machine"}, "machineDetection.callbackUrl"),
        ({"callbackMethod": "PATCH"}, "machineDetection.callbackMethod"),
    ],
)
def test_a_bad_machine_detection_is_named(detection: dict[str, Any], field: str) -> None:
    """The mode, URLs and methods of machineDetection are checked, naming the nested field."""
    assert bad_field(machineDetection=detection) == field


def test_machine_detection_defaults_to_async_and_reports_the_callee() -> None:
    """Without a mode detection is async (the spec's default); a machine is reported as such."""
    assert detection_mode(parse_create_call(GOOD)) is None
    assert detection_mode(parse_create_call(GOOD | {"machineDetection": {}})) == "async"
    assert CalleePlan("machine").machine_detection_result()["value"] == "answering-machine"
    assert CalleePlan("answered").machine_detection_result() == {
        "value": "human",
        "duration": "PT0.000S",
    }
