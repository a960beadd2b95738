"""Create Call's request body, checked as the spec describes it (docs/bandwidth.md §4.7).

:func:`parse_create_call` turns the JSON object a bot posts to
``POST /api/v2/accounts/{accountId}/calls`` into a :class:`CreateCall`, or raises
:class:`CreateCallInvalid` naming the first bad field, which the fake answers with 400.
:func:`create_call_response` renders the ``createCallResponse`` body of the 201.
No I/O and no clock: the caller passes the times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from simulator.protocol.webhook_bodies import call_url, iso_duration, iso_timestamp

__all__ = [
    "CALLBACK_METHODS",
    "CALLEE_ANSWERS",
    "DEFAULT_RING_MS",
    "DETECTION_MODES",
    "CalleePlan",
    "CreateCall",
    "CreateCallInvalid",
    "create_call_response",
    "detection_mode",
    "parse_create_call",
]

DETECTION_MODES = ("sync", "async")
"""``machineDetectionModeEnum``; ``async`` when absent (the spec's default)."""
CALLBACK_METHODS = ("GET", "POST")
"""``callbackMethodEnum``: how a callback is delivered; POST when null or absent."""
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_URL_FIELDS = ("answerUrl", "answerFallbackUrl", "disconnectUrl")
_METHOD_FIELDS = ("answerMethod", "answerFallbackMethod", "disconnectMethod")
_MAX_LENGTHS = {
    "answerUrl": 2048,
    "callbackUrl": 2048,
    "fallbackUrl": 2048,
    "answerFallbackUrl": 2048,
    "disconnectUrl": 2048,
    "username": 1024,
    "password": 1024,
    "fallbackUsername": 1024,
    "fallbackPassword": 1024,
    "displayName": 256,
    "tag": 4096,
    "uui": 350,
}
_DETECTION_NUMBERS = (
    "detectionTimeout",
    "silenceTimeout",
    "speechThreshold",
    "speechEndThreshold",
    "machineSpeechEndThreshold",
)
"""``machineDetectionConfiguration``'s numbers (seconds; the spec gives no range)."""
_RANGES = {"callTimeout": (1.0, 300.0), "callbackTimeout": (1.0, 25.0)}


class CreateCallInvalid(ValueError):
    """A Create Call body the real API would refuse with 400; ``field`` names the culprit."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        super().__init__(f"{field_name}: {reason}")


@dataclass(frozen=True)
class CreateCall:
    """A valid Create Call request: what bwsim needs to place and run the call."""

    to: str
    from_: str
    application_id: str
    answer_url: str
    answer_method: str = "POST"
    disconnect_url: str | None = None
    disconnect_method: str = "POST"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    answer_fallback_url: str | None = None
    answer_fallback_method: str = "POST"
    fallback_username: str | None = None
    fallback_password: str | None = field(default=None, repr=False)
    call_timeout_s: float = 30.0
    callback_timeout_s: float = 15.0
    tag: str | None = None
    priority: int | None = None
    machine_detection: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The request body as sent, for the response's echo."""


def _string(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise CreateCallInvalid(name, "is required")
        return None
    if not isinstance(value, str):
        raise CreateCallInvalid(name, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise CreateCallInvalid(name, "is required and must not be empty")
    limit = _MAX_LENGTHS.get(name)
    if limit is not None and len(value) > limit:
        raise CreateCallInvalid(name, f"is longer than {limit} characters")
    return value


def _url(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _string(body, name, required=required)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CreateCallInvalid(name, f"must be an absolute http(s) URL, got {value!r}")
    return value


def _method(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return "POST"
    if not isinstance(value, str) or value.upper() not in CALLBACK_METHODS:
        raise CreateCallInvalid(name, f"must be GET or POST, got {value!r}")
    return value.upper()


def _number(body: Mapping[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CreateCallInvalid(name, f"must be a number, got {value!r}")
    low, high = _RANGES[name]
    if not low <= value <= high:
        raise CreateCallInvalid(name, f"must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _boolean(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise CreateCallInvalid(name, f"must be true or false, got {value!r}")
    return value


def _check_to(value: str) -> None:
    if _E164.match(value) or (value.startswith("sip:") and "@" in value):
        return
    raise CreateCallInvalid(
        "to", f"must be an E.164 number (+15555551212) or a SIP URI (sip:user@host), got {value!r}"
    )


def _machine_detection(value: Any) -> Mapping[str, Any] | None:
    """Check ``machineDetection`` (schema ``machineDetectionConfiguration``)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CreateCallInvalid("machineDetection", "must be an object")
    mode = value.get("mode")
    if mode is not None and mode not in DETECTION_MODES:
        raise CreateCallInvalid("machineDetection.mode", f"must be sync or async, got {mode!r}")
    for name in ("callbackUrl", "fallbackUrl"):
        try:
            _url(value, name)
        except CreateCallInvalid as err:
            raise CreateCallInvalid(
                f"machineDetection.{name}", str(err).split(": ", 1)[1]
            ) from None
    for name in ("callbackMethod", "fallbackMethod"):
        try:
            _method(value, name)
        except CreateCallInvalid as err:
            raise CreateCallInvalid(
                f"machineDetection.{name}", str(err).split(": ", 1)[1]
            ) from None
    try:
        for name in ("username", "password", "fallbackUsername", "fallbackPassword"):
            _string(value, name)
        _boolean(value, "delayResult")
    except CreateCallInvalid as err:
        raise CreateCallInvalid(
            f"machineDetection.{err.field}", str(err).split(": ", 1)[1]
        ) from None
    for name in _DETECTION_NUMBERS:
        number = value.get(name)
        if number is not None and (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
        ):
            raise CreateCallInvalid(f"machineDetection.{name}", f"must be a number, got {number!r}")
    return dict(value)


def parse_create_call(body: Any) -> CreateCall:
    """Check a Create Call body (spec schema ``createCall``) and return what it asks for."""
    if not isinstance(body, Mapping):
        raise CreateCallInvalid("body", "must be a JSON object (createCall)")
    to = _string(body, "to", required=True)
    from_ = _string(body, "from", required=True)
    application_id = _string(body, "applicationId", required=True)
    answer_url = _url(body, "answerUrl", required=True)
    assert to is not None  # required above
    assert from_ is not None
    assert application_id is not None
    assert answer_url is not None
    _check_to(to)
    if not _E164.match(from_):
        raise CreateCallInvalid("from", f"must be an E.164 number (+15555551212), got {from_!r}")
    urls = {name: _url(body, name) for name in _URL_FIELDS[1:]}
    methods = {name: _method(body, name) for name in _METHOD_FIELDS}
    creds = {
        name: _string(body, name) for name in _MAX_LENGTHS if "sername" in name or "assword" in name
    }
    for url_field, user, password in (
        ("answerUrl", "username", "password"),
        ("answerFallbackUrl", "fallbackUsername", "fallbackPassword"),
    ):
        url = answer_url if url_field == "answerUrl" else urls[url_field]
        if url and (creds[user] or creds[password]) and urlsplit(url).scheme != "https":
            raise CreateCallInvalid(
                url_field, f"must use https when {user} and {password} are given, got {url!r}"
            )
    tag = _string(body, "tag")
    _string(body, "displayName")
    _string(body, "uui")
    _boolean(body, "privacy")
    priority = body.get("priority")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5
    ):
        raise CreateCallInvalid("priority", f"must be an integer from 1 to 5, got {priority!r}")
    detection = _machine_detection(body.get("machineDetection"))
    return CreateCall(
        to=to,
        from_=from_,
        application_id=application_id,
        answer_url=answer_url,
        answer_method=methods["answerMethod"],
        disconnect_url=urls["disconnectUrl"],
        disconnect_method=methods["disconnectMethod"],
        username=creds["username"],
        password=creds["password"],
        answer_fallback_url=urls["answerFallbackUrl"],
        answer_fallback_method=methods["answerFallbackMethod"],
        fallback_username=creds["fallbackUsername"],
        fallback_password=creds["fallbackPassword"],
        call_timeout_s=_number(body, "callTimeout", 30.0),
        callback_timeout_s=_number(body, "callbackTimeout", 15.0),
        tag=tag,
        priority=priority,
        machine_detection=detection,
        raw=dict(body),
    )


def create_call_response(
    request: CreateCall, *, account_id: str, call_id: str, enqueued_time: datetime
) -> dict[str, Any]:
    """The 201 body (spec schema ``createCallResponse``) for a call placed from ``request``."""
    return {
        "applicationId": request.application_id,
        "accountId": account_id,
        "callId": call_id,
        "to": request.to,
        "from": request.from_,
        "enqueuedTime": iso_timestamp(enqueued_time),
        "callUrl": call_url(account_id, call_id),
        "callTimeout": request.call_timeout_s,
        "callbackTimeout": request.callback_timeout_s,
        "tag": request.tag,
        "answerMethod": request.answer_method,
        "answerUrl": request.answer_url,
        "answerFallbackMethod": request.answer_fallback_method,
        "answerFallbackUrl": request.answer_fallback_url,
        "disconnectMethod": request.disconnect_method,
        "disconnectUrl": request.disconnect_url,
        "username": request.username,
        "password": request.password,
        "fallbackUsername": request.fallback_username,
        "fallbackPassword": request.fallback_password,
        "priority": request.priority,
    }


# --------------------------------------------------------------------------------------
# The callee bwsim plays
# --------------------------------------------------------------------------------------

CALLEE_ANSWERS = ("answered", "busy", "no-answer", "rejected", "machine")
"""What the callee of an outbound call does once its phone has rung."""
_END_CAUSES = {"busy": "busy", "no-answer": "timeout", "rejected": "rejected"}
DEFAULT_RING_MS = 1000.0
"""How long the callee's phone rings before it answers, is busy or rejects, by default."""


@dataclass(frozen=True)
class CalleePlan:
    """What the callee does: ``answer`` (one of :data:`CALLEE_ANSWERS`) after ``ring_ms``.

    ``ring_ms`` None rings for :data:`DEFAULT_RING_MS`, except ``no-answer``, which rings
    for the request's ``callTimeout``, as Bandwidth does before it gives up.
    """

    answer: str = "answered"
    ring_ms: float | None = None

    def __post_init__(self) -> None:
        if self.answer not in CALLEE_ANSWERS:
            msg = f"answer must be one of {', '.join(CALLEE_ANSWERS)}, got {self.answer!r}"
            raise ValueError(msg)
        if self.ring_ms is not None and (not math.isfinite(self.ring_ms) or self.ring_ms < 0):
            raise ValueError(f"ring_ms must be a number of milliseconds >= 0, got {self.ring_ms!r}")

    def ring_s(self, request: CreateCall) -> float:
        """How long the phone rings, in seconds, for a call created by ``request``."""
        if self.ring_ms is not None:
            return self.ring_ms / 1000
        if self.answer == "no-answer":
            return request.call_timeout_s
        return DEFAULT_RING_MS / 1000

    @property
    def end_cause(self) -> str | None:
        """The disconnect cause when the callee never answers; None when it answers."""
        return _END_CAUSES.get(self.answer)

    def machine_detection_result(self) -> dict[str, str]:
        """The ``machineDetectionResult`` for this callee: a machine, or a person.

        Bandwidth reports how long detection took; bwsim decides at once (``PT0.000S``).
        """
        value = "answering-machine" if self.answer == "machine" else "human"
        return {"value": value, "duration": iso_duration(timedelta(0))}


def detection_mode(request: CreateCall) -> str | None:
    """How the request asked for machine detection: ``sync``, ``async``, or None (not asked)."""
    if request.machine_detection is None:
        return None
    return str(request.machine_detection.get("mode") or "async")
