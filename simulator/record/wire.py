"""HTTP plumbing the capture proxy's routes share: which headers pass, and answering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

__all__ = ["HOP_BY_HOP", "Receive", "Scope", "Send", "forwarded", "read_body", "relay"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""Request and answer headers the recorder does not pass on (HTTP's hop-by-hop ones,
``Host`` and the length, which the next hop sets itself)."""


def forwarded(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request headers passed on: all but the hop-by-hop ones, in order, as they came."""
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


async def relay(send: Send, answer: httpx.Response, body: bytes | None = None) -> None:
    """Send ``answer`` back (its status and headers; ``body`` instead of its own if given).

    httpx has already decoded a compressed answer, so it goes back uncompressed: without
    ``Content-Encoding``, with its own length.
    """
    out = answer.content if body is None else body
    headers = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in answer.headers.multi_items()
        if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"
    ]
    headers.append((b"content-length", str(len(out)).encode()))
    await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": out})


async def plain(send: Send, status: int, text: str) -> None:
    """Answer with a plain-text message."""
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
