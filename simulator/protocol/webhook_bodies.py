"""Voice webhook bodies: what bwsim sends the bot, built and checked without I/O.

:class:`CallInfo` and :class:`StreamInfo` describe a call and a media stream;
``initiate_body``, ``answer_body``, ``disconnect_body``, ``redirect_body``,
``gather_body``, ``transfer_answer_body``, ``transfer_complete_body``,
``transfer_disconnect_body`` and the three ``media_stream_*_body`` functions turn them
into dicts with Bandwidth's field names (docs/bandwidth.md §2.3-§2.7, §1.8); no
clock is read, every time is an argument. Checking a body against the official
``bandwidth-sdk`` callback models is :mod:`simulator.protocol.webhook_validation`; the
sender is :mod:`simulator.call.webhook_sender`.

Identifiers follow docs/bandwidth.md §5.6: ``c-<8 hex>-<uuid4>`` call ids,
``s-<8 hex>-<uuid4>`` stream ids, 7-digit account ids, UUID application ids; all use
RFC 3986 unreserved characters only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from simulator.errors import ConfigError
from simulator.protocol.ids import (  # re-exported for webhook callers
    ACCOUNT_ID_RE,
    APPLICATION_ID_RE,
    CALL_ID_RE,
    STREAM_ID_RE,
    new_account_id,
    new_application_id,
    new_call_id,
    new_stream_id,
)

__all__ = [
    "ACCOUNT_ID_RE",
    "APPLICATION_ID_RE",
    "ASYNC_EVENTS",
    "CALL_ID_RE",
    "DISCONNECT_CAUSES",
    "STREAM_ID_RE",
    "STREAM_REJECTED_CAUSES",
    "STREAM_STOPPED_CAUSES",
    "SYNC_EVENTS",
    "CallInfo",
    "InvalidWebhookBody",
    "JsonBody",
    "StreamInfo",
    "answer_body",
    "call_url",
    "check_cause",
    "disconnect_body",
    "dtmf_body",
    "gather_body",
    "initiate_body",
    "iso_duration",
    "iso_timestamp",
    "media_stream_rejected_body",
    "media_stream_started_body",
    "media_stream_stopped_body",
    "new_account_id",
    "new_application_id",
    "new_call_id",
    "new_stream_id",
    "redirect_body",
    "transfer_answer_body",
    "transfer_complete_body",
    "transfer_disconnect_body",
]

JsonBody = dict[str, Any]


def call_url(account_id: str, call_id: str) -> str:
    """Return the ``callUrl`` Bandwidth puts in every call webhook (docs/bandwidth.md §2.3)."""
    return f"https://voice.bandwidth.com/api/v2/accounts/{account_id}/calls/{call_id}"


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class InvalidWebhookBody(ConfigError, ValueError):
    """A webhook body cannot be built, or does not parse with the bandwidth-sdk model.

    Raised for bad builder arguments (a naive datetime, an unknown cause) and by
    :func:`validate_body`. ``event_type`` names the webhook, ``reason`` says what is wrong.
    """

    def __init__(self, event_type: str | None, reason: str) -> None:
        self.event_type = event_type
        self.reason = reason
        what = f"{event_type!r} webhook body" if event_type else "webhook body"
        super().__init__(f"invalid {what}: {reason}")


# --------------------------------------------------------------------------------------
# Time formats (docs/bandwidth.md §5.6: ISO 8601 UTC with milliseconds and ``Z``; durations)
# --------------------------------------------------------------------------------------


def iso_timestamp(value: datetime) -> str:
    """Format ``value`` as Bandwidth does: ``2019-06-20T15:56:11.554Z`` (UTC, milliseconds).

    ``value`` must be timezone-aware; a naive datetime is refused rather than guessed.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"timestamp {value.isoformat()!r} has no timezone; pass an aware datetime "
            "such as datetime.now(UTC)"
        )
        raise InvalidWebhookBody(None, msg)
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def iso_duration(value: timedelta) -> str:
    """Format ``value`` as an ISO 8601 duration like Bandwidth's ``PT1M52.217S``.

    Hours and minutes appear only when non-zero; seconds always, with milliseconds.
    """
    total_ms = round(value.total_seconds() * 1000)
    if total_ms < 0:
        msg = f"duration {value!r} is negative: the stream cannot stop before it started"
        raise InvalidWebhookBody(None, msg)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    return f"{text}{seconds}.{millis:03d}S"


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_timestamp(value)


# --------------------------------------------------------------------------------------
# What a call and a stream look like to the body builders
# --------------------------------------------------------------------------------------

Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True)
class CallInfo:
    """The facts about one call leg that its webhooks carry.

    ``call_url`` is derived from ``account_id`` and ``call_id`` when left empty. A
    transfer B-leg (see :meth:`transfer_leg`) has ``parent_call_id`` set, ``from_`` is
    the transfer caller id and ``to`` the transfer target; the builders then add
    ``parentCallId``/``transferCallerId``/``transferTo`` where Bandwidth does.
    """

    account_id: str
    application_id: str
    call_id: str
    from_: str
    to: str
    start_time: datetime
    direction: Direction = "inbound"
    answer_time: datetime | None = None
    enqueued_time: datetime | None = None
    call_url: str = ""
    tag: str | None = None
    parent_call_id: str | None = None
    sip_call_id: str | None = None
    uui: str | None = None
    diversion: Mapping[str, str] | None = None
    stir_shaken: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("inbound", "outbound"):
            msg = f"direction must be 'inbound' or 'outbound', got {self.direction!r}"
            raise InvalidWebhookBody(None, msg)
        if not self.call_url:
            object.__setattr__(self, "call_url", call_url(self.account_id, self.call_id))

    @classmethod
    def new_inbound(
        cls,
        from_: str,
        to: str,
        *,
        start_time: datetime,
        account_id: str | None = None,
        application_id: str | None = None,
        call_id: str | None = None,
    ) -> CallInfo:
        """Describe a new inbound call that started at ``start_time``, generating missing ids."""
        return cls(
            account_id=account_id or new_account_id(),
            application_id=application_id or new_application_id(),
            call_id=call_id or new_call_id(),
            from_=from_,
            to=to,
            start_time=start_time,
        )

    def answered(self, at: datetime) -> CallInfo:
        """Return a copy of this call answered at ``at``."""
        return replace(self, answer_time=at)

    def transfer_leg(
        self,
        transfer_to: str,
        *,
        start_time: datetime,
        caller_id: str | None = None,
        call_id: str | None = None,
        answer_time: datetime | None = None,
        tag: str | None = None,
    ) -> CallInfo:
        """Describe the outbound B-leg a ``<Transfer>`` on this call dials (docs/bandwidth.md §2.7).

        ``caller_id`` is the ``transferCallerId``; it defaults to this call's ``from``.
        """
        return CallInfo(
            account_id=self.account_id,
            application_id=self.application_id,
            call_id=call_id or new_call_id(),
            from_=caller_id or self.from_,
            to=transfer_to,
            start_time=start_time,
            direction="outbound",
            answer_time=answer_time,
            parent_call_id=self.call_id,
            tag=tag,
        )


@dataclass(frozen=True)
class StreamInfo:
    """A ``<StartStream>`` stream as its mediaStream* webhooks describe it (docs/bandwidth.md §1.8).

    ``name`` defaults to the stream id, as Bandwidth's does. ``tracks`` are the strings
    ``inbound``/``outbound``.
    """

    stream_id: str
    destination: str
    start_time: datetime
    name: str = ""
    tracks: tuple[str, ...] = ("inbound",)

    def __post_init__(self) -> None:
        bad = [t for t in self.tracks if t not in ("inbound", "outbound")]
        if bad or not self.tracks:
            msg = f"tracks must be 'inbound' and/or 'outbound', got {self.tracks!r}"
            raise InvalidWebhookBody(None, msg)
        if not self.name:
            object.__setattr__(self, "name", self.stream_id)

    def to_body(self, *, end_time: datetime | None = None) -> JsonBody:
        """Render the ``mediaStream`` object; with ``end_time``, include ``duration``."""
        out: JsonBody = {
            "id": self.stream_id,
            "name": self.name,
            "destination": self.destination,
            "startTime": iso_timestamp(self.start_time),
            "tracks": list(self.tracks),
            "type": "WebSocket",
        }
        if end_time is not None:
            out["duration"] = iso_duration(end_time - self.start_time)
        return out


# --------------------------------------------------------------------------------------
# Body builders (pure)
# --------------------------------------------------------------------------------------

SYNC_EVENTS: Final = frozenset(
    {
        "initiate",
        "answer",
        "redirect",
        "gather",
        "transferAnswer",
        "transferComplete",
        "bridgeComplete",
        "bridgeTargetComplete",
    }
)
"""Webhooks whose reply is BXML: ``200`` + ``application/xml`` expected (docs/bandwidth.md §2.1)."""

ASYNC_EVENTS: Final = frozenset(
    {
        "disconnect",
        "dtmf",
        "transferDisconnect",
        "mediaStreamStarted",
        "mediaStreamStopped",
        "mediaStreamRejected",
    }
)
"""Webhooks whose reply is ignored: any 2xx will do (docs/bandwidth.md §2.1, §1.8)."""

DISCONNECT_CAUSES: Final = frozenset(
    {
        "hangup",
        "busy",
        "timeout",
        "cancel",
        "rejected",
        "callback-error",
        "invalid-bxml",
        "application-error",
        "account-limit",
        "node-capacity-exceeded",
        "error",
        "unknown",
    }
)
"""``cause`` values of disconnect and transfer webhooks (docs/bandwidth.md §2.5)."""

STREAM_STOPPED_CAUSES: Final = frozenset({"closed", "connection-error", "error"})
STREAM_REJECTED_CAUSES: Final = frozenset({"connection-error", "duplicate", "error", "track-limit"})


def _put(body: JsonBody, key: str, value: Any) -> None:
    """Set ``key`` only when there is a value: Bandwidth omits absent optional fields."""
    if value is not None:
        body[key] = value


def _common(info: CallInfo, event_type: str, event_time: datetime) -> JsonBody:
    return {
        "eventType": event_type,
        "eventTime": iso_timestamp(event_time),
        "accountId": info.account_id,
        "applicationId": info.application_id,
        "from": info.from_,
        "to": info.to,
        "direction": info.direction,
        "callId": info.call_id,
        "callUrl": info.call_url,
    }


def _times(body: JsonBody, info: CallInfo, *, answer: bool = True) -> None:
    _put(body, "enqueuedTime", _iso_or_none(info.enqueued_time))
    body["startTime"] = iso_timestamp(info.start_time)
    if answer:
        _put(body, "answerTime", _iso_or_none(info.answer_time))


def _transfer_fields(body: JsonBody, info: CallInfo) -> None:
    """On a transfer B-leg, add Bandwidth's redirect/gather fields (docs/bandwidth.md §2.6)."""
    if info.parent_call_id is not None:
        body["parentCallId"] = info.parent_call_id
        body["transferCallerId"] = info.from_
        body["transferTo"] = info.to


def check_cause(event_type: str, cause: str, allowed: frozenset[str]) -> None:
    """Raise :class:`InvalidWebhookBody` unless ``cause`` is one of ``allowed``."""
    if cause not in allowed:
        msg = f"cause {cause!r} is not one Bandwidth documents; use one of {sorted(allowed)}"
        raise InvalidWebhookBody(event_type, msg)


def _error_fields(
    body: JsonBody, cause: str, error_message: str | None, error_id: str | None
) -> None:
    _put(body, "errorMessage", error_message)
    if error_id is None and error_message is not None and cause != "hangup":
        error_id = str(uuid.uuid4())
    _put(body, "errorId", error_id)


def initiate_body(info: CallInfo, event_time: datetime) -> JsonBody:
    """Build an inbound call's ``initiate`` (docs/bandwidth.md §2.3): no answerTime, no tag."""
    if info.direction != "inbound":
        msg = "initiate is sent only for inbound calls; use answer_body for an outbound call"
        raise InvalidWebhookBody("initiate", msg)
    body = _common(info, "initiate", event_time)
    body["startTime"] = iso_timestamp(info.start_time)
    _put(body, "diversion", dict(info.diversion) if info.diversion else None)
    _put(body, "stirShaken", dict(info.stir_shaken) if info.stir_shaken else None)
    _put(body, "uui", info.uui)
    _put(body, "sipCallId", info.sip_call_id)
    return body


def answer_body(info: CallInfo, event_time: datetime) -> JsonBody:
    """Build the ``answer`` webhook of an outbound call (docs/bandwidth.md §2.4).

    ``answerTime`` is ``info.answer_time``, or ``event_time`` when the call has none.
    """
    if info.direction != "outbound":
        msg = "answer is sent only for outbound calls; an inbound call gets initiate_body"
        raise InvalidWebhookBody("answer", msg)
    body = _common(info, "answer", event_time)
    _times(body, info, answer=False)
    body["answerTime"] = iso_timestamp(info.answer_time or event_time)
    _put(body, "tag", info.tag)
    _put(body, "sipCallId", info.sip_call_id)
    return body


def disconnect_body(
    info: CallInfo,
    cause: str,
    end_time: datetime,
    error_message: str | None = None,
    *,
    error_id: str | None = None,
) -> JsonBody:
    """Build the ``disconnect`` webhook (docs/bandwidth.md §2.5); ``eventTime`` is ``end_time``.

    ``errorId`` (a UUID) is generated when an error message is given for a cause other
    than ``hangup`` and ``error_id`` is not.
    """
    check_cause("disconnect", cause, DISCONNECT_CAUSES)
    body = _common(info, "disconnect", end_time)
    _times(body, info)
    body["endTime"] = iso_timestamp(end_time)
    body["cause"] = cause
    _error_fields(body, cause, error_message, error_id)
    _put(body, "tag", info.tag)
    _put(body, "sipCallId", info.sip_call_id)
    return body


def redirect_body(info: CallInfo, event_time: datetime) -> JsonBody:
    """Build ``redirect`` (docs/bandwidth.md §2.6), sent by ``<Redirect>`` or Update Call."""
    body = _common(info, "redirect", event_time)
    _times(body, info)
    _put(body, "tag", info.tag)
    _transfer_fields(body, info)
    return body


def gather_body(
    info: CallInfo, digits: str, terminating_digit: str | None, event_time: datetime
) -> JsonBody:
    """Build the ``gather`` webhook: the digits collected and the digit that ended it.

    ``terminating_digit`` is ``""`` when no terminating digit was pressed, as Bandwidth
    sends it (docs/bandwidth.md §3.4); None leaves the field out.
    """
    body = _common(info, "gather", event_time)
    _times(body, info)
    body["digits"] = digits
    _put(body, "terminatingDigit", terminating_digit)
    _put(body, "tag", info.tag)
    _transfer_fields(body, info)
    return body


def transfer_answer_body(b_leg: CallInfo, event_time: datetime) -> JsonBody:
    """Build ``transferAnswer`` for a :meth:`CallInfo.transfer_leg` (docs/bandwidth.md §2.7)."""
    body = _common(b_leg, "transferAnswer", event_time)
    _times(body, b_leg, answer=False)
    body["answerTime"] = iso_timestamp(b_leg.answer_time or event_time)
    _put(body, "tag", b_leg.tag)
    body["transferCallerId"] = b_leg.from_
    body["transferTo"] = b_leg.to
    return body


def transfer_complete_body(
    info: CallInfo,
    transfer_to: str,
    cause: str,
    event_time: datetime,
    *,
    transfer_caller_id: str | None = None,
    error_message: str | None = None,
    error_id: str | None = None,
) -> JsonBody:
    """Build ``transferComplete`` for A-leg ``info`` once the B-leg ended (docs/bandwidth.md §2.7).

    ``cause`` is the B-leg's ending (``hangup``, ``busy``, ``timeout`` …);
    ``transfer_caller_id`` defaults to the A-leg's ``from``.
    """
    check_cause("transferComplete", cause, DISCONNECT_CAUSES)
    body = _common(info, "transferComplete", event_time)
    _times(body, info)
    _put(body, "tag", info.tag)
    body["transferCallerId"] = transfer_caller_id or info.from_
    body["transferTo"] = transfer_to
    body["cause"] = cause
    _error_fields(body, cause, error_message, error_id)
    return body


def transfer_disconnect_body(
    b_leg: CallInfo,
    cause: str,
    end_time: datetime,
    error_message: str | None = None,
    *,
    error_id: str | None = None,
) -> JsonBody:
    """Build ``transferDisconnect`` for a :meth:`CallInfo.transfer_leg` (docs/bandwidth.md §2.7)."""
    if b_leg.parent_call_id is None or b_leg.direction != "outbound":
        msg = "pass the transfer B-leg (CallInfo.transfer_leg(...)), not the A-leg"
        raise InvalidWebhookBody("transferDisconnect", msg)
    check_cause("transferDisconnect", cause, DISCONNECT_CAUSES)
    body = _common(b_leg, "transferDisconnect", end_time)
    body["parentCallId"] = b_leg.parent_call_id
    _times(body, b_leg)
    body["endTime"] = iso_timestamp(end_time)
    _put(body, "tag", b_leg.tag)
    body["transferCallerId"] = b_leg.from_
    body["transferTo"] = b_leg.to
    body["cause"] = cause
    _error_fields(body, cause, error_message, error_id)
    return body


def _stream_common(info: CallInfo, event_type: str, event_time: datetime) -> JsonBody:
    body = _common(info, event_type, event_time)
    _times(body, info)
    _put(body, "tag", info.tag)
    return body


def media_stream_started_body(info: CallInfo, stream: StreamInfo, event_time: datetime) -> JsonBody:
    """Build ``mediaStreamStarted`` (docs/bandwidth.md §1.8), sent once the socket is open."""
    body = _stream_common(info, "mediaStreamStarted", event_time)
    body["mediaStream"] = stream.to_body()
    return body


def media_stream_stopped_body(
    info: CallInfo,
    stream: StreamInfo,
    cause: str,
    end_time: datetime,
    error_message: str | None = None,
) -> JsonBody:
    """Build ``mediaStreamStopped`` (docs/bandwidth.md §1.8); ``duration`` counts from its start.

    ``errorMessage`` is present exactly when ``cause`` is not ``closed``, as Bandwidth's.
    """
    check_cause("mediaStreamStopped", cause, STREAM_STOPPED_CAUSES)
    if (cause == "closed") != (error_message is None):
        msg = (
            f"cause {cause!r} with error_message={error_message!r}: Bandwidth sends an "
            "errorMessage exactly when the cause is not 'closed'"
        )
        raise InvalidWebhookBody("mediaStreamStopped", msg)
    body = _stream_common(info, "mediaStreamStopped", end_time)
    body["cause"] = cause
    _put(body, "errorMessage", error_message)
    body["mediaStream"] = stream.to_body(end_time=end_time)
    return body


def media_stream_rejected_body(
    info: CallInfo,
    stream: StreamInfo,
    cause: str,
    error_message: str,
    event_time: datetime,
    *,
    original_stream: StreamInfo | None = None,
) -> JsonBody:
    """Build ``mediaStreamRejected`` (docs/bandwidth.md §1.8); ``original_stream``: ``duplicate``.

    The eventType is ``mediaStreamRejected`` as in the doc example (its table has a typo).
    """
    check_cause("mediaStreamRejected", cause, STREAM_REJECTED_CAUSES)
    body = _stream_common(info, "mediaStreamRejected", event_time)
    body["cause"] = cause
    body["errorMessage"] = error_message
    body["mediaStream"] = stream.to_body()
    if original_stream is not None:
        body["originalMediaStream"] = original_stream.to_body()
    return body


def dtmf_body(info: CallInfo, digit: str, event_time: datetime) -> JsonBody:
    """Build ``dtmf``: one key pressed after ``<StartGather>`` (docs/bandwidth.md §3.4)."""
    body = _common(info, "dtmf", event_time)
    _times(body, info)
    body["digit"] = digit
    _put(body, "tag", info.tag)
    _transfer_fields(body, info)
    return body
