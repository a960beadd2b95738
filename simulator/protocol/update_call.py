"""Update Call's request body, checked as the spec describes it (docs/bandwidth.md §4.4).

:func:`parse_update_call` checks the JSON a bot posts to
``POST /api/v2/accounts/{accountId}/calls/{callId}`` against the spec's ``updateCall``
schema and the rules its descriptions add, and raises :class:`UpdateCallInvalid` naming
the first bad field, which the fake answers with 400. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["UpdateCallInvalid", "parse_update_call"]

_LIMITS = {
    "redirectUrl": None,
    "redirectFallbackUrl": None,
    "username": 1024,
    "password": 1024,
    "fallbackUsername": 1024,
    "fallbackPassword": 1024,
    "tag": 4096,
}
"""The string fields of ``updateCall`` and their ``maxLength`` (None: no limit)."""
_METHODS = ("redirectMethod", "redirectFallbackMethod")
_NOT_WHEN_COMPLETED = ("redirectUrl", "redirectMethod", "tag")
"""Fields the spec's descriptions say are "not allowed if ``state`` is ``completed``"."""


class UpdateCallInvalid(ValueError):
    """An Update Call body the real API would refuse with 400."""


def parse_update_call(body: Any) -> str:
    """Check an Update Call body and return its ``state``: ``active`` or ``completed``.

    Every field is nullable; a null ``state`` is the default, ``active``, and a null
    field counts as absent.
    """
    if not isinstance(body, Mapping):
        raise UpdateCallInvalid("Request body must be a JSON object (updateCall)")
    state = body.get("state")
    if state is None:
        state = "active"
    if state not in ("active", "completed"):
        raise UpdateCallInvalid(f"Invalid state {state!r}: must be active or completed")
    for name, limit in _LIMITS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise UpdateCallInvalid(f"{name} must be a string, got {value!r}")
        if limit is not None and len(value) > limit:
            raise UpdateCallInvalid(f"{name} is longer than {limit} characters")
        if name.endswith("Url"):
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UpdateCallInvalid(f"{name} must be an absolute http(s) URL, got {value!r}")
    for name in _METHODS:
        value = body.get(name)
        if value is not None and (
            not isinstance(value, str) or value.upper() not in ("GET", "POST")
        ):
            raise UpdateCallInvalid(f"{name} must be GET or POST, got {value!r}")
    if state == "completed":
        extra = [k for k in _NOT_WHEN_COMPLETED if body.get(k) is not None]
        if extra:
            raise UpdateCallInvalid(f"{', '.join(extra)} not allowed when state is completed")
    elif not body.get("redirectUrl"):
        raise UpdateCallInvalid("redirectUrl is required when state is active")
    return str(state)
