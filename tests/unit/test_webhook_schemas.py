"""Every webhook body bwsim can send validates against the callback schemas of bandwidth.yml.

The vendored spec (``docs/specs/bandwidth.yml``, docs/bandwidth.md S12) describes each voice
webhook as a ``{eventType}Callback`` schema. Its schemas list every field but mark none
required and allow any extra one, so the check here is stricter than the spec alone: no
field outside the schema (a misspelt ``callID`` is caught) and every field Bandwidth always
sends present (:func:`simulator.protocol.webhook_validation.always_sent`). The spec has no
schema for mediaStreamStarted/Stopped/Rejected (docs/bandwidth.md §1.8, S11): their
envelope is checked against the spec's ``answerCallback`` fields and their
``mediaStream`` object against the documented shape.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from simulator.protocol import webhook_bodies
from simulator.protocol.webhook_bodies import (
    disconnect_body,
    gather_body,
    media_stream_started_body,
    media_stream_stopped_body,
    redirect_body,
)
from simulator.protocol.webhook_validation import always_sent
from tests.unit.test_webhooks import BUILDERS, T0, _answered, _b_leg, _stream

SPEC = Path(__file__).resolve().parents[2] / "docs" / "specs" / "bandwidth.yml"

TAGGED: dict[str, Callable[[], dict[str, Any]]] = {
    "redirect-tagged": lambda: redirect_body(_tagged(), T0 + timedelta(seconds=9)),
    "gather-tagged": lambda: gather_body(_tagged(), "12", "#", T0 + timedelta(seconds=9)),
    "disconnect-tagged": lambda: disconnect_body(_tagged(), "hangup", T0 + timedelta(seconds=9)),
    "media_stream_started-tagged": lambda: media_stream_started_body(
        _tagged(), _stream(), T0 + timedelta(seconds=2)
    ),
    "media_stream_stopped-tagged": lambda: media_stream_stopped_body(
        _tagged(), _stream(), "closed", T0 + timedelta(seconds=9)
    ),
    "redirect-b-leg-tagged": lambda: redirect_body(
        replace(_b_leg(), tag="leg-b"), T0 + timedelta(seconds=9)
    ),
}
"""Bodies of a call with a tag: the tag and answerTime must be fields the schema knows."""

ALL: dict[str, Callable[[], dict[str, Any]]] = {**BUILDERS, **TAGGED}

# The documented mediaStream object (docs/bandwidth.md §1.8); the spec has none.
_MEDIA_STREAM: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "destination", "startTime", "tracks", "type"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "destination": {"type": "string", "format": "uri"},
        "startTime": {"type": "string", "format": "date-time"},
        "tracks": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["inbound", "outbound"]},
        },
        "type": {"const": "WebSocket"},
        "duration": {"type": "string", "pattern": r"^PT(\d+H)?(\d+M)?\d+(\.\d+)?S$"},
    },
}
_STREAM_FIELDS: Mapping[str, Any] = {
    "mediaStream": _MEDIA_STREAM,
    "originalMediaStream": _MEDIA_STREAM,
    "cause": {"type": "string"},
    "errorMessage": {"type": "string"},
}


@functools.cache
def _components() -> Mapping[str, Any]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    schemas: Mapping[str, Any] = spec["components"]["schemas"]
    return schemas


def _resolve(node: Any) -> Any:
    """Inline every ``#/components/schemas/…`` reference (the callback schemas have no cycles)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.removeprefix("#/components/schemas/")
            return _resolve(_components()[name])
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


def spec_schema(event_type: str) -> dict[str, Any]:
    """The strict schema of ``event_type``'s body, built from the spec's ``*Callback``."""
    stream = event_type.startswith("mediaStream")
    name = "answerCallback" if stream else f"{event_type}Callback"
    if name not in _components():
        pytest.fail(f"bandwidth.yml has no schema {name!r} for the {event_type!r} webhook")
    schema: dict[str, Any] = copy.deepcopy(_resolve(_components()[name]))
    if stream:
        schema["properties"].pop("machineDetectionResult", None)
        schema["properties"].update(copy.deepcopy(dict(_STREAM_FIELDS)))
    schema["properties"]["eventType"] = {"const": event_type}
    schema["additionalProperties"] = False
    schema["required"] = list(always_sent(event_type))
    return schema


def _date_time(value: object) -> bool:
    """An ISO 8601 timestamp with a zone, as Bandwidth sends (``…T15:56:11.554Z``)."""
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _uri(value: object) -> bool:
    """An absolute URI: a scheme and a host."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("date-time", raises=ValueError)(_date_time)
_FORMATS.checks("uri")(_uri)


def check_against_spec(body: Mapping[str, Any]) -> None:
    """Raise :class:`jsonschema.ValidationError` unless ``body`` fits its event's schema."""
    schema = spec_schema(str(body.get("eventType")))
    jsonschema.Draft7Validator(schema, format_checker=_FORMATS).validate(dict(body))


def test_every_builder_has_bodies_to_check() -> None:
    """Each ``*_body`` builder of webhook_bodies has a sample here, so the walk covers them all."""
    builders = {name for name in webhook_bodies.__all__ if name.endswith("_body")}
    sampled = {f"{key.split('-')[0]}_body" for key in ALL}
    missing = sorted(builders - sampled)
    assert not missing, f"add samples of {missing} to BUILDERS in tests/unit/test_webhooks.py"


@pytest.mark.parametrize("key", sorted(ALL))
def test_body_validates_against_the_spec_callback_schema(key: str) -> None:
    """The built body fits its ``*Callback`` schema: known fields only, required ones present."""
    check_against_spec(ALL[key]())


def test_tagged_bodies_carry_tag_and_answer_time() -> None:
    """A tagged, answered call's redirect and mediaStream bodies carry tag and answerTime."""
    for key in ("redirect-tagged", "media_stream_started-tagged", "media_stream_stopped-tagged"):
        body = ALL[key]()
        assert (body["tag"], body["answerTime"]) == ("t-1", "2024-05-01T12:00:01.123Z"), key


def test_a_missing_required_field_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A builder that drops ``startTime`` (here: its helper broken) fails the spec check."""
    original = webhook_bodies._times

    def no_start(body: dict[str, Any], info: webhook_bodies.CallInfo, **kw: Any) -> None:
        original(body, info, **kw)
        body.pop("startTime")

    monkeypatch.setattr(webhook_bodies, "_times", no_start)
    with pytest.raises(jsonschema.ValidationError, match="'startTime' is a required property"):
        check_against_spec(ALL["disconnect"]())


def test_an_unknown_field_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A builder that adds a field the schema does not know (``callID``) fails the spec check."""
    original = webhook_bodies._common

    def misspelt(
        info: webhook_bodies.CallInfo, event_type: str, event_time: datetime
    ) -> dict[str, Any]:
        return {**original(info, event_type, event_time), "callID": info.call_id}

    monkeypatch.setattr(webhook_bodies, "_common", misspelt)
    with pytest.raises(jsonschema.ValidationError, match="'callID' was unexpected"):
        check_against_spec(ALL["redirect"]())


def test_a_wrong_stream_object_fails_the_check() -> None:
    """A mediaStream object with an unknown track fails (the spec has no stream schema: ours)."""
    body = ALL["media_stream_started"]()
    body["mediaStream"]["tracks"] = ["both"]
    with pytest.raises(jsonschema.ValidationError, match="'both' is not one of"):
        check_against_spec(body)


def test_a_naive_timestamp_fails_the_check() -> None:
    """A time without a zone is not the ISO 8601 UTC Bandwidth sends."""
    body = ALL["answer"]()
    body["answerTime"] = "2024-05-01T12:00:01.123"
    with pytest.raises(jsonschema.ValidationError, match="is not a 'date-time'"):
        check_against_spec(body)


def _tagged() -> webhook_bodies.CallInfo:
    return replace(_answered(), tag="t-1")
