"""List Calls (``GET /api/v2/accounts/{accountId}/calls``): its query, filters and page.

The spec's parameters (docs/bandwidth.md §4.8): ``to``, ``from``,
``disconnectCause`` filter by equality, ``minStartTime``/``maxStartTime`` bound
``startTime`` (inclusive, ISO 8601), ``pageSize`` (1-10000, default 1000) caps the
list, oldest first. A ``pageSize`` that is not such an integer, or a time that is not
ISO 8601, is refused with 400. ``pageToken`` is only ever sent back from a ``Link``
header, and bwsim never pages past the first ``pageSize`` calls, so it is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from simulator.rest.registry import Call

__all__ = ["ListCallsInvalid", "list_calls"]

_DEFAULT_PAGE = 1000
_MAX_PAGE = 10_000


class ListCallsInvalid(ValueError):
    """A List Calls query the real API would refuse with 400."""


def _time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ListCallsInvalid(f"{name} must be an ISO 8601 time, got {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_calls(calls: Iterable[Call], account_id: str, query: str) -> list[dict[str, Any]]:
    """The ``callState`` objects of ``account_id``'s calls that ``query`` asks for."""
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    page = params.get("pageSize", str(_DEFAULT_PAGE))
    if not page.strip().lstrip("-").isdigit() or not 1 <= int(page) <= _MAX_PAGE:
        raise ListCallsInvalid(f"pageSize must be an integer from 1 to {_MAX_PAGE}, got {page!r}")
    low = _time("minStartTime", params["minStartTime"]) if "minStartTime" in params else None
    high = _time("maxStartTime", params["maxStartTime"]) if "maxStartTime" in params else None
    found: list[Call] = []
    for call in calls:
        if call.account_id != account_id:
            continue
        if any(
            name in params and params[name] != value
            for name, value in (
                ("to", call.to),
                ("from", call.from_),
                ("disconnectCause", call.disconnect_cause),
            )
        ):
            continue
        if (low is not None and call.start_time < low) or (
            high is not None and call.start_time > high
        ):
            continue
        found.append(call)
    found.sort(key=lambda c: c.start_time)
    return [c.state_object() for c in found[: int(page)]]
