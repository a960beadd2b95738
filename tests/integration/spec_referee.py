"""Bandwidth's OpenAPI description as the referee of the fake Voice API's answers.

:class:`SpecReferee` loads docs/specs/bandwidth.yml once, finds the operation a request
names (its ``operationId``), and says what is wrong with a request or a response as
openapi-core (a maintained OpenAPI 3.0 validator) reads the spec, plus what the spec's
schemas cannot say but docs/bandwidth.md §4.3 does: every voice error is a
``{type, description, id}`` body whose ``type`` belongs to its status.

The few answers the spec does not describe are written down here with their reason
(:data:`NOT_IN_SPEC`); every other answer must be one the spec documents.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema_path import SchemaPath
from openapi_core import V30ResponseValidator
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.validators import (
    V30RequestBodyValidator,
    V30RequestParametersValidator,
)

from simulator.rest.unsimulated import unsimulated_operation

__all__ = ["NOT_IN_SPEC", "Exchange", "SpecMismatch", "SpecReferee", "referee"]

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "specs" / "bandwidth.yml"
VOICE_HOST = "https://voice.bandwidth.com"
VOICE_PREFIX = "/api/v2"

ERROR_TYPES: Mapping[int, str] = {
    400: "validation",
    401: "authentication-error",
    403: "authorization-error",
    404: "validation",
    405: "validation",
    409: "validation",
    415: "validation",
    429: "error",
    500: "internal-error",
}
"""The ``type`` of each voice error status (docs/bandwidth.md §4.3, S12 and S15)."""

NOT_IN_SPEC: Mapping[int, str] = {
    413: (
        "bwsim's own cap on how much of a request body it reads (simulator/rest/bodies.py): "
        "Bandwidth documents no body limit for these operations, and a harness must not "
        "hold whatever a bot sends in memory; the body is still a voiceApiError"
    ),
    501: (
        "a documented operation bwsim does not model (simulator/rest/unsimulated.py): "
        "it answers not-simulated naming the operation, so a bot relying on it fails "
        "loudly instead of getting a made-up answer"
    ),
}
"""Statuses the fake may answer that the spec documents for no Calls operation, and why."""


class SpecMismatch(AssertionError):
    """A request or response the spec (or docs/bandwidth.md §4.3) does not allow."""


@dataclass(frozen=True)
class Exchange:
    """One request sent to the fake and the answer it gave, as the referee reads them."""

    method: str
    path: str
    query: Mapping[str, str]
    content_type: str | None
    body: bytes
    status: int
    response_body: bytes
    response_type: str | None
    response_headers: Mapping[str, str]

    def request(self) -> MockRequest:
        """The request as openapi-core reads it, addressed to Bandwidth's Voice host."""
        return MockRequest(
            VOICE_HOST,
            self.method.lower(),
            self.path,
            args=dict(self.query),
            data=self.body,
            content_type=self.content_type or "application/octet-stream",
        )

    def response(self) -> MockResponse:
        """The response as openapi-core reads it."""
        return MockResponse(
            self.response_body,
            status_code=self.status,
            headers=dict(self.response_headers),
            content_type=self.response_type or "application/octet-stream",
        )


@dataclass(frozen=True)
class Operation:
    """A Voice operation of the spec: its id, method, path template and description."""

    operation_id: str
    method: str
    template: str
    spec: Mapping[str, Any]

    def label(self) -> str:
        """``createCall (POST /accounts/{accountId}/calls)``: how failures name it."""
        return f"{self.operation_id} ({self.method} {self.template})"


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(rf"^{re.escape(VOICE_PREFIX)}{body}/?$")


class SpecReferee:
    """Judges the fake's requests and answers against docs/specs/bandwidth.yml."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        _null_in_nullable_enums(spec)
        self.spec = spec
        self._schema_path = SchemaPath.from_dict(dict(spec))
        self._responses = V30ResponseValidator(self._schema_path)
        self._bodies = V30RequestBodyValidator(self._schema_path)
        self._parameters = V30RequestParametersValidator(self._schema_path)
        self.operations: list[tuple[re.Pattern[str], Operation]] = []
        for template, item in spec["paths"].items():
            servers = [s["url"] for s in item.get("servers", [])]
            if f"{VOICE_HOST}{VOICE_PREFIX}" not in servers:
                continue
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    found = Operation(op["operationId"], method.upper(), template, op)
                    self.operations.append((_pattern(template), found))

    def schema(self, name: str) -> dict[str, Any]:
        """The component schema ``name``."""
        found: dict[str, Any] = self.spec["components"]["schemas"][name]
        return found

    def resolve(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """``node`` with its ``$ref`` (if any) followed."""
        while "$ref" in node:
            _, _, section, name = str(node["$ref"]).split("/")
            node = self.spec["components"][section][name]
        return dict(node)

    def operation(self, method: str, path: str) -> Operation | None:
        """The Voice operation ``method path`` names, or None."""
        for pattern, op in self.operations:
            if op.method == method.upper() and pattern.match(path):
                return op
        return None

    def path_operations(self, path: str) -> list[Operation]:
        """Every Voice operation on ``path``, whatever its method."""
        return [op for pattern, op in self.operations if pattern.match(path)]

    # -- requests ---------------------------------------------------------------

    def request_errors(self, exchange: Exchange) -> list[str]:
        """What the spec finds wrong with the request's parameters and body (not its auth)."""
        request = exchange.request()
        errors = [*self._parameters.iter_errors(request), *self._bodies.iter_errors(request)]
        return [_explain(e) for e in errors]

    # -- responses --------------------------------------------------------------

    def response_errors(self, exchange: Exchange) -> list[str]:
        """What is wrong with the answer: undocumented status, bad body, bad error shape."""
        op = self.operation(exchange.method, exchange.path)
        status = exchange.status
        problems: list[str] = []
        if status in NOT_IN_SPEC:
            problems += self._not_in_spec(exchange, op)
        elif op is None:
            siblings = self.path_operations(exchange.path)
            if siblings and status != 405:
                problems.append(
                    f"{exchange.method} is no operation on this path: the answer must be 405, "
                    f"not {status}"
                )
            elif not siblings and status != 404:
                problems.append(f"no operation has this path: the answer must be 404, not {status}")
        else:
            problems += [_explain(e) for e in self._responses.iter_errors(*self._pair(exchange))]
            documented = op.spec["responses"].get(str(status))
            bodiless = documented is not None and "content" not in self.resolve(documented)
            if bodiless and exchange.response_body:
                problems.append(f"status {status} is documented with no body, got one")
        if status >= 400:
            problems += _error_shape(exchange)
        return problems

    def _pair(self, exchange: Exchange) -> tuple[MockRequest, MockResponse]:
        return exchange.request(), exchange.response()

    def _not_in_spec(self, exchange: Exchange, op: Operation | None) -> list[str]:
        if exchange.status == 501:
            found = unsimulated_operation(exchange.method, exchange.path)
            if op is None or found is None or found[0] != op.operation_id:
                return ["501 is only for a documented operation bwsim does not model"]
            body = _json(exchange.response_body)
            if not isinstance(body, dict) or body.get("type") != "not-simulated":
                return ["a 501 body must have type not-simulated"]
            if op.operation_id not in str(body.get("description")):
                return [f"the not-simulated description must name {op.operation_id}"]
        return []

    def check(self, exchange: Exchange) -> None:
        """Raise :class:`SpecMismatch` naming the operation and every problem of the answer."""
        problems = self.response_errors(exchange)
        if problems:
            op = self.operation(exchange.method, exchange.path)
            name = op.label() if op is not None else f"{exchange.method} {exchange.path}"
            raise SpecMismatch(
                f"{name} answered {exchange.status}: "
                + "; ".join(problems)
                + f" (body: {exchange.response_body[:300]!r})"
            )


def _null_in_nullable_enums(node: Any) -> None:
    """Let a ``nullable`` enum take null, as OpenAPI 3.0.3 says ``nullable`` does.

    openapi-schema-validator refuses null for ``nullable: true`` with an ``enum`` that
    does not list it; Bandwidth takes a null method as the default ``POST``
    (docs/bandwidth.md §4.7), and the spec's own ``default`` says so.
    """
    if isinstance(node, dict):
        if node.get("nullable") and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
        for value in node.values():
            _null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_enums(value)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_shape(exchange: Exchange) -> list[str]:
    """docs/bandwidth.md §4.3: ``{type, description, id}``, ``type`` fitting the status."""
    body = _json(exchange.response_body)
    if not isinstance(body, dict):
        return ["an error body must be a JSON object {type, description, id}"]
    problems = [
        f"the error body has no string {key!r}"
        for key in ("type", "description")
        if not isinstance(body.get(key), str) or not body[key]
    ]
    expected = ERROR_TYPES.get(exchange.status)
    if expected is not None and body.get("type") != expected:
        problems.append(
            f"a {exchange.status} error has type {expected!r}, got {body.get('type')!r}"
        )
    return problems


def _explain(error: BaseException) -> str:
    """openapi-core's error in one line: the schema's own messages where it has them."""
    if isinstance(error, ResponseNotFound):
        return f"status {error.http_status} is not documented for this operation"
    messages: list[str] = []
    node: BaseException | None = error
    while node is not None:
        messages += [getattr(e, "message", str(e)) for e in getattr(node, "schema_errors", ())]
        node = node.__cause__
    if not messages:
        return str(error)
    return f"{type(error).__name__}: " + "; ".join(dict.fromkeys(messages))


@functools.cache
def referee() -> SpecReferee:
    """The referee over the vendored spec, loaded once per process."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=loader)
    return SpecReferee(spec)
