"""Identifiers shaped like Bandwidth's (docs/bandwidth.md §5.6).

Call and stream ids are ``c-``/``s-`` + 8 hex + ``-`` + a UUID4 (47 characters for a call
id); account ids are 7 digits; application ids are UUIDs. All use only RFC 3986
unreserved characters, as pipecat-bandwidth requires of the ids it puts in URLs.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Final

__all__ = [
    "ACCOUNT_ID_RE",
    "APPLICATION_ID_RE",
    "CALL_ID_RE",
    "STREAM_ID_RE",
    "new_account_id",
    "new_application_id",
    "new_call_id",
    "new_stream_id",
]


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CALL_ID_RE: Final = re.compile(rf"c-[0-9a-f]{{8}}-{_UUID}")
"""Shape of a Bandwidth call id (use with ``fullmatch``): 47 characters."""
STREAM_ID_RE: Final = re.compile(rf"s-[0-9a-f]{{8}}-{_UUID}")
"""Shape of a Bandwidth stream id (use with ``fullmatch``)."""
ACCOUNT_ID_RE: Final = re.compile(r"[0-9]{7,8}")
"""Shape of a Bandwidth account id: 7 or 8 digits in every example (use with ``fullmatch``)."""
APPLICATION_ID_RE: Final = re.compile(_UUID)
"""Shape of a Bandwidth application id: a lower-case UUID (use with ``fullmatch``)."""


def _hex8() -> str:
    return secrets.token_hex(4)


def new_call_id() -> str:
    """Return a call id shaped like Bandwidth's: ``c-<8 hex>-<uuid4>`` (47 characters)."""
    return f"c-{_hex8()}-{uuid.uuid4()}"


def new_stream_id() -> str:
    """Return a stream id shaped like Bandwidth's: ``s-<8 hex>-<uuid4>``."""
    return f"s-{_hex8()}-{uuid.uuid4()}"


def new_account_id() -> str:
    """Return a 7-digit account id, as in Bandwidth's examples (``9900000``)."""
    return str(1_000_000 + secrets.randbelow(9_000_000))


def new_application_id() -> str:
    """Return an application id: a lower-case UUID4, as Bandwidth's."""
    return str(uuid.uuid4())
