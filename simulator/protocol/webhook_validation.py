"""Checking a webhook body against the official ``bandwidth-sdk`` callback models.

:func:`validate_body` parses a body with the SDK's model for its event and rejects what
does not parse, misses a required field, or carries a field the model does not know,
raising :class:`~simulator.protocol.webhook_bodies.InvalidWebhookBody`. The bodies
themselves are built by :mod:`simulator.protocol.webhook_bodies`. No I/O.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from simulator.protocol.webhook_bodies import (
    STREAM_REJECTED_CAUSES,
    STREAM_STOPPED_CAUSES,
    InvalidWebhookBody,
    check_cause,
)

__all__ = ["always_sent", "validate_body"]


# --------------------------------------------------------------------------------------
# Validation with the bandwidth-sdk models
# --------------------------------------------------------------------------------------

_COMMON_REQUIRED: Final = (
    "eventType",
    "eventTime",
    "accountId",
    "applicationId",
    "from",
    "to",
    "direction",
    "callId",
    "callUrl",
)


@dataclass(frozen=True)
class _Schema:
    model: str  # class name in bandwidth.models
    required: tuple[str, ...]
    extra_allowed: frozenset[str] = frozenset()


# bandwidth-sdk 23.3.1 has no mediaStream* callback models. Their envelope carries the
# same common call fields as ``AnswerCallback`` (docs/bandwidth.md §1.8 lists them), so
# that model parses the envelope and ``_check_media_stream`` checks the rest.
_STREAM_EXTRAS: Final = frozenset({"mediaStream", "cause", "errorMessage", "originalMediaStream"})

_SCHEMAS: Final[Mapping[str, _Schema]] = {
    "initiate": _Schema("InitiateCallback", ("startTime",)),
    "answer": _Schema("AnswerCallback", ("startTime", "answerTime")),
    "disconnect": _Schema("DisconnectCallback", ("startTime", "endTime", "cause")),
    "redirect": _Schema("RedirectCallback", ("startTime",)),
    "gather": _Schema("GatherCallback", ("startTime", "digits")),
    "dtmf": _Schema("DtmfCallback", ("startTime", "digit")),
    "transferAnswer": _Schema(
        "TransferAnswerCallback", ("startTime", "answerTime", "transferCallerId", "transferTo")
    ),
    "transferComplete": _Schema(
        "TransferCompleteCallback", ("startTime", "transferCallerId", "transferTo", "cause")
    ),
    "transferDisconnect": _Schema(
        "TransferDisconnectCallback",
        ("parentCallId", "startTime", "endTime", "transferCallerId", "transferTo", "cause"),
    ),
    "mediaStreamStarted": _Schema("AnswerCallback", ("startTime", "mediaStream"), _STREAM_EXTRAS),
    "mediaStreamStopped": _Schema(
        "AnswerCallback", ("startTime", "mediaStream", "cause"), _STREAM_EXTRAS
    ),
    "mediaStreamRejected": _Schema(
        "AnswerCallback", ("startTime", "mediaStream", "cause", "errorMessage"), _STREAM_EXTRAS
    ),
}

_DURATION_RE: Final = re.compile(r"PT(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?")


@functools.cache
def _sdk_model(name: str) -> Any:
    # Imported lazily: ``bandwidth`` loads its whole API surface (about a second), which
    # the CLI should not pay for unless a body is validated.
    import bandwidth.models  # noqa: PLC0415

    return getattr(bandwidth.models, name)


def _parse_timestamp(event_type: str, where: str, value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidWebhookBody(event_type, f"{where} must be an ISO 8601 string, got {value!r}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        msg = f"{where} {value!r} is not an ISO 8601 timestamp"
        raise InvalidWebhookBody(event_type, msg) from None


def _check_stream_object(event_type: str, key: str, stream: Any, *, stopped: bool) -> None:
    if not isinstance(stream, dict):
        raise InvalidWebhookBody(event_type, f"{key} must be an object, got {stream!r}")
    for name in ("id", "name", "destination"):
        if not isinstance(stream.get(name), str) or not stream[name]:
            msg = f"{key}.{name} must be a non-empty string, got {stream.get(name)!r}"
            raise InvalidWebhookBody(event_type, msg)
    _parse_timestamp(event_type, f"{key}.startTime", stream.get("startTime"))
    tracks = stream.get("tracks")
    if (
        not isinstance(tracks, list)
        or not tracks
        or any(t not in ("inbound", "outbound") for t in tracks)
    ):
        msg = f"{key}.tracks must be a list of 'inbound'/'outbound' strings, got {tracks!r}"
        raise InvalidWebhookBody(event_type, msg)
    if stream.get("type") != "WebSocket":
        msg = f"{key}.type must be 'WebSocket', got {stream.get('type')!r}"
        raise InvalidWebhookBody(event_type, msg)
    duration = stream.get("duration")
    if stopped and (not isinstance(duration, str) or not _DURATION_RE.fullmatch(duration)):
        msg = f"{key}.duration must be an ISO 8601 duration like 'PT1M52.217S', got {duration!r}"
        raise InvalidWebhookBody(event_type, msg)


def _check_media_stream(event_type: str, body: Mapping[str, Any]) -> None:
    """Check a mediaStream* body against docs/bandwidth.md §1.8 (the SDK has no model for these)."""
    stopped = event_type == "mediaStreamStopped"
    _check_stream_object(event_type, "mediaStream", body.get("mediaStream"), stopped=stopped)
    cause = body.get("cause")
    if event_type == "mediaStreamStarted":
        if cause is not None:
            raise InvalidWebhookBody(event_type, f"mediaStreamStarted has no cause, got {cause!r}")
    elif stopped:
        check_cause(event_type, str(cause), STREAM_STOPPED_CAUSES)
        if (cause == "closed") == ("errorMessage" in body):
            msg = "errorMessage must be present exactly when the cause is not 'closed'"
            raise InvalidWebhookBody(event_type, msg)
    else:
        check_cause(event_type, str(cause), STREAM_REJECTED_CAUSES)
        if "originalMediaStream" in body:
            original = body["originalMediaStream"]
            _check_stream_object(event_type, "originalMediaStream", original, stopped=False)
    if not isinstance(body.get("errorMessage", ""), str):
        raise InvalidWebhookBody(event_type, "errorMessage must be a string")


def always_sent(event_type: str) -> tuple[str, ...]:
    """The fields Bandwidth sends with every ``event_type`` webhook (docs/bandwidth.md §2)."""
    schema = _SCHEMAS.get(event_type)
    if schema is None:
        msg = f"bwsim has no schema for this event type; known: {sorted(_SCHEMAS)}"
        raise InvalidWebhookBody(event_type, msg)
    return (*_COMMON_REQUIRED, *schema.required)


def validate_body(event_type: str, body: Mapping[str, Any] | bytes | str) -> Any:
    """Check a webhook body against the bandwidth-sdk model for ``event_type``; return it.

    The SDK models make every field optional and keep unknown keys aside, so parsing
    alone proves little. This also requires the fields Bandwidth always sends for that
    event (docs/bandwidth.md §2), ``eventType`` equal to ``event_type``, and no
    top-level field the model does not know (a misspelt ``callID`` is caught).
    bandwidth-sdk 23.3.1 has no mediaStream* models: their common call fields are parsed
    with ``AnswerCallback`` and the ``mediaStream`` object is checked against
    docs/bandwidth.md §1.8.

    Raises :class:`InvalidWebhookBody` naming the first problem found.
    """
    schema = _SCHEMAS.get(event_type)
    if schema is None:
        msg = f"bwsim has no schema for this event type; known: {sorted(_SCHEMAS)}"
        raise InvalidWebhookBody(event_type, msg)
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise InvalidWebhookBody(event_type, f"body is not JSON: {exc}") from None
    if not isinstance(body, Mapping):
        raise InvalidWebhookBody(event_type, f"body must be a JSON object, got {body!r:.80}")
    if body.get("eventType") != event_type:
        msg = f"eventType is {body.get('eventType')!r}, expected {event_type!r}"
        raise InvalidWebhookBody(event_type, msg)
    missing = [k for k in always_sent(event_type) if body.get(k) is None]
    if missing:
        msg = f"missing field(s) {missing} that Bandwidth always sends with this event"
        raise InvalidWebhookBody(event_type, msg)
    model_cls = _sdk_model(schema.model)
    try:
        model = model_cls.from_dict(dict(body))
    except (ValueError, TypeError) as exc:  # pydantic.ValidationError is a ValueError
        msg = f"does not parse with bandwidth.models.{schema.model}: {exc}"
        raise InvalidWebhookBody(event_type, msg) from None
    unknown = sorted(set(model.additional_properties) - schema.extra_allowed)
    if unknown:
        msg = f"field(s) {unknown} are not in bandwidth.models.{schema.model}: check the spelling"
        raise InvalidWebhookBody(event_type, msg)
    if event_type.startswith("mediaStream"):
        _check_media_stream(event_type, body)
    return model
