"""Fuzz: webhook bodies from the spec's ``initiateCallback`` schema, then mutated.

The simulator checks every webhook body it builds against Bandwidth's callback models
(:func:`simulator.protocol.webhook_validation.validate_body`). Whatever body it is handed
(schema-valid, missing fields, wrong types, unknown keys, not JSON at all), the answer is
the parsed model or :class:`InvalidWebhookBody` naming the problem, never another
exception. The strategy is built from the vendored spec (docs/specs/bandwidth.yml) by
:func:`from_schema`, a small OpenAPI-schema-to-strategy walk (the types, formats, enums
and lengths the callback schemas use), so a field the spec adds is fuzzed without a
change here. hypothesis-jsonschema was tried and does not work with current hypothesis.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator.protocol.webhook_bodies import InvalidWebhookBody
from simulator.protocol.webhook_validation import validate_body

# A hang guard, not a speed bound: the fuzz profile runs 10,000 examples per test.
# Not marked `fuzz`: these run at the default count in every test run, and at 10,000
# examples in `nox -s fuzz`, which names these files.
pytestmark = [pytest.mark.timeout(120 + 0.2 * settings().max_examples)]

SPEC = Path(__file__).resolve().parents[2] / "docs" / "specs" / "bandwidth.yml"
EVENT_TYPES = ("initiate", "answer", "disconnect", "mediaStreamStarted", "nope", "")
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


def _inline(node: Any, schemas: dict[str, Any]) -> Any:
    """The schema with every local ``$ref`` replaced by its target, OpenAPI words dropped.

    ``nullable: true`` becomes a ``null`` type (JSON Schema's spelling); ``example`` and
    ``description`` are dropped so hypothesis-jsonschema sees plain JSON Schema.
    """
    if isinstance(node, list):
        return [_inline(n, schemas) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(schemas[node["$ref"].rsplit("/", 1)[-1]], schemas)
    out = {
        k: _inline(v, schemas)
        for k, v in node.items()
        if k not in ("example", "description", "nullable", "xml", "discriminator")
    }
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "enum" in out and node.get("nullable"):
        out["enum"] = [*out["enum"], None]
    return out


@functools.cache
def initiate_schema() -> dict[str, Any]:
    """The spec's ``initiateCallback`` as a self-contained JSON Schema."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    schema: dict[str, Any] = _inline(schemas["initiateCallback"], schemas)
    return schema


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    fmt = schema.get("format")
    if fmt == "date-time":
        zones = st.sampled_from(
            [None, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=330))]
        )
        moments = st.datetimes(timezones=zones)
        return st.one_of(moments.map(lambda d: d.isoformat()), _TEXT)
    if fmt == "uri":
        paths = st.text("abcxyz/%?#:", max_size=12)
        return st.one_of(paths.map(lambda p: f"https://voice.example/{p}"), _TEXT)
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=schema.get("maxLength", 40))


def from_schema(schema: dict[str, Any], key: str = "") -> st.SearchStrategy[Any]:
    """Values an inlined OpenAPI schema allows (``required`` lists the keys always drawn)."""
    kind = schema.get("type", "object" if "properties" in schema else "string")
    kinds = kind if isinstance(kind, list) else [kind]
    options: list[st.SearchStrategy[Any]] = []
    for one in kinds:
        if one == "null":
            options.append(st.none())
        elif one == "string" and key == "eventType":
            options.append(st.one_of(st.just("initiate"), st.just("initiate"), _TEXT))
        elif one == "string":
            options.append(_strings(schema))
        elif one == "integer":
            options.append(st.integers(schema.get("minimum"), schema.get("maximum")))
        elif one == "number":
            options.append(st.floats(allow_nan=False, allow_infinity=False))
        elif one == "boolean":
            options.append(st.booleans())
        elif one == "array":
            options.append(st.lists(from_schema(schema.get("items", {})), max_size=3))
        elif one == "object":
            props = schema.get("properties", {})
            required = set(schema.get("required", ()))
            extra = schema.get("additionalProperties")
            fixed = st.fixed_dictionaries(
                {k: from_schema(v, k) for k, v in props.items() if k in required},
                optional={k: from_schema(v, k) for k, v in props.items() if k not in required},
            )
            if isinstance(extra, dict):
                more = st.dictionaries(_TEXT, from_schema(extra), max_size=3)
                fixed = st.builds(lambda a, b: {**b, **a}, fixed, more)
            options.append(fixed)
    return st.one_of(options)


def initiate_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid ``initiate`` bodies, mostly with the fields Bandwidth always sends."""
    schema = initiate_schema()
    full = {**schema, "required": sorted(schema["properties"])}
    return st.one_of(from_schema(full), from_schema(full), from_schema(schema))


@given(body=from_schema(initiate_schema()))
def test_generated_bodies_match_the_schema(body: dict[str, Any]) -> None:
    """Bodies from the walk hold only the schema's keys, each of the schema's type."""
    props = initiate_schema()["properties"]
    assert set(body) <= set(props)
    for key, value in body.items():
        want = props[key].get("type", "object")
        assert isinstance(value, {"string": str, "object": dict}[want]), (key, value)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
        max_leaves=5,
    )


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any] | str | bytes:
    """A schema-valid body with a few keys dropped, retyped, added, or the text broken."""
    body: dict[str, Any] = dict(draw(initiate_bodies()))
    for _ in range(draw(st.integers(0, 4))):
        how = draw(st.sampled_from(["drop", "retype", "add", "case"]))
        keys = sorted(body)
        if how == "drop" and keys:
            body.pop(draw(st.sampled_from(keys)))
        elif how == "retype" and keys:
            body[draw(st.sampled_from(keys))] = draw(_json_values())
        elif how == "add":
            body[draw(_TEXT)] = draw(_json_values())
        elif how == "case" and keys:
            key = draw(st.sampled_from(keys))
            body[key.upper()] = body.pop(key)
    form = draw(st.sampled_from(["object", "object", "text", "bytes", "truncated"]))
    if form == "object":
        return body
    text = json.dumps(body, ensure_ascii=False, allow_nan=True)
    if form == "truncated":
        return text[: draw(st.integers(0, len(text)))]
    return text if form == "text" else text.encode("utf-8", "surrogatepass")


def _check(event_type: str, body: Any) -> None:
    error = None
    try:
        validate_body(event_type, body)
    except InvalidWebhookBody as exc:
        error = str(exc)
    assert error is None or error, "an InvalidWebhookBody must say what is wrong"


@given(body=initiate_bodies())
def test_schema_valid_initiate_bodies_get_a_result_or_a_named_error(body: dict[str, Any]) -> None:
    """A body the spec's initiateCallback schema allows is parsed or named invalid, never raises."""
    _check("initiate", body)


@given(event_type=st.sampled_from(EVENT_TYPES), body=mutated())
@example(event_type="initiate", body={"eventType": "initiate", "accountId": ["x"]})
@example(event_type="initiate", body=b"\xff\xfe")
@example(event_type="initiate", body='{"eventType": "initiate", "eventTime": NaN}')
def test_mutated_bodies_get_a_result_or_a_named_error(
    event_type: str, body: dict[str, Any] | str | bytes
) -> None:
    """Mutated bodies for any event type are parsed or named invalid, never raise."""
    _check(event_type, body)


def test_the_schema_has_the_fields_bandwidth_always_sends() -> None:
    """The strategy is built from the vendored spec: initiate's ids and URL are in it."""
    props = initiate_schema()["properties"]
    assert {"eventType", "accountId", "callId", "callUrl", "startTime"} <= set(props)
    assert "$ref" not in json.dumps(initiate_schema())
