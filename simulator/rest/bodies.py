"""How much of a request body the fake Voice API reads: a cap per route, and the reader.

A bot under test can send anything; without a cap it could make the harness hold any
amount of memory. Past the cap the fake answers 413.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from simulator.rest.routes import Route

__all__ = ["MAX_BODY_BYTES", "MAX_BXML_BODY_BYTES", "body_cap", "read_body"]

MAX_BODY_BYTES = 65_536
"""The most the fake reads of a JSON, form or control request body; beyond it, 413.

Bandwidth documents no limit for these bodies, but an ``updateCall`` body is a few short
fields and a token request a short form, so the 64 KB Bandwidth sets for BXML
(docs/bandwidth.md §3.1) is far above anything real. Without a cap a bot could make the
harness hold any amount of memory.
"""

MAX_BXML_BODY_BYTES = 1_048_576
"""The most the fake reads of a ``PUT …/bxml`` body; beyond it, 413.

Up to this size the body is read and refused by the BXML size rule with Bandwidth's 400
naming the 64 KB limit (the answer a bot would get from Bandwidth); past 1 MB the
fake stops reading, so memory stays bounded whatever the bot sends.
"""


def body_cap(route: str) -> int:
    """How many body bytes the fake reads for a request on ``route``."""
    return MAX_BXML_BODY_BYTES if route == Route.UPDATE_BXML else MAX_BODY_BYTES


async def read_body(
    receive: Callable[[], Awaitable[dict[str, Any]]], headers: list[tuple[str, str]], cap: int
) -> tuple[bytes, bool]:
    """Read a request body up to ``cap`` bytes: ``(body, too_large)``.

    A ``Content-Length`` over the cap is refused before anything is read; a body that
    turns out longer (chunked, or a lying header) stops being read at the cap.
    """
    for name, value in headers:
        if name.lower() == "content-length" and value.strip().isdigit() and int(value) > cap:
            return b"", True
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > cap:
            return bytes(body[:cap]), True
        if not message.get("more_body"):
            return bytes(body), False
