"""Passing HTTP requests on: which headers pass, reading a body, answering over ASGI.

The one home of the hop-by-hop rule for every bwsim hop that forwards requests: the
capture proxy (:mod:`simulator.record`) and the routers that send a call's requests to
the process that owns it (:mod:`simulator.rest.call_router`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import httpx

__all__ = [
    "HOP_BY_HOP",
    "Receive",
    "Scope",
    "Send",
    "answer",
    "forwarded",
    "lifespan",
    "plain",
    "read_body",
    "relay",
    "relayed",
    "scope_headers",
]

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
"""Request and answer headers a hop does not pass on (HTTP's hop-by-hop ones, ``Host``
and the length, which the next hop sets itself)."""


def forwarded(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request headers passed on: all but the hop-by-hop ones, in order, as they came."""
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]


def relayed(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The answer headers passed back: all but the hop-by-hop ones and ``Content-Encoding``.

    httpx has already decoded a compressed answer, so it goes back uncompressed.
    """
    return [(k, v) for k, v in forwarded(headers) if k.lower() != "content-encoding"]


def scope_headers(scope: Scope) -> list[tuple[str, str]]:
    """An ASGI request's headers as text, in order, as they came."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]


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


async def answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    """Send a whole answer: ``status``, ``headers`` and ``body`` with its own length."""
    out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def relay(send: Send, reply: httpx.Response, body: bytes | None = None) -> None:
    """Send ``reply`` back (its status and headers; ``body`` instead of its own if given)."""
    out = reply.content if body is None else body
    await answer(send, reply.status_code, relayed(reply.headers.multi_items()), out)


async def plain(send: Send, status: int, text: str) -> None:
    """Answer with a plain-text message."""
    await answer(send, status, [("content-type", "text/plain; charset=utf-8")], text.encode())


async def lifespan(
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve an ASGI lifespan: started at once; at shutdown, ``on_shutdown`` then done."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    if on_shutdown is not None:
        await on_shutdown()
    await send({"type": "lifespan.shutdown.complete"})
