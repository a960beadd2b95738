"""Sending a call's requests to the process whose fake Bandwidth owns the call.

When the calls of one run live in several fakes (the worker processes of ``bwsim load
--processes N``, the workers of a Locust run), the bot is still given one Voice API
address. A router there sends each request whose path names a call (the Voice API's
``…/calls/{callId}…`` and the control API's ``/_bwsim/calls/{callId}/caller-lines``) to
the call's owner. The routers (:class:`simulator.runner.load_workers.CallRouter`,
:class:`simulator.locust.router.Router`) differ only in who the owners are and in what
answers a request no owner takes; the rest is here.

Who owns a call: the first field of its id (``c-<tag>-<uuid4>``, 8 hex digits,
:func:`call_tag`). Every process that mints call ids for a router puts its own mark there:
a Locust worker its random tag, a ``bwsim load`` worker its number in the first two digits.

A token is issued by one fake but used on the calls of every owner: a router puts the
owner's own token in place of a bearer token it knows as its own (:func:`headers_for`),
and passes any other as it came, so the owner refuses it (401) as Bandwidth would.

The rules are pure functions; :class:`Forwarder` is the thin shell that sends a request
on (one HTTP client for every owner) and relays the answer, or a JSON error naming the
owner that did not answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from simulator.protocol.ids import CALL_ID_RE
from simulator.rest.relay import Scope, Send, answer, forwarded, relay, scope_headers

__all__ = [
    "ERROR_TYPE",
    "TIMEOUT_S",
    "Forwarder",
    "Owner",
    "call_id_in",
    "call_tag",
    "error_body",
    "headers_for",
    "refuse",
    "unreachable",
]

TIMEOUT_S = 30.0
"""How long a router waits for an owner's answer (and a worker for the router's)."""
ERROR_TYPE = "bwsim-router"
"""The ``type`` of every error a router answers itself (Bandwidth's error shape)."""
_CALL_IN_PATH = re.compile(r"/calls/(?P<call>[^/]+)")


@dataclass(frozen=True)
class Owner:
    """A process that owns calls: how errors name it, its fake's base URL, a token it takes."""

    name: str
    url: str
    token: str


def call_id_in(path: str) -> str | None:
    """The call id ``path`` names (``…/calls/{callId}…``), if it has Bandwidth's shape."""
    found = _CALL_IN_PATH.search(path)
    if found is None or not CALL_ID_RE.fullmatch(found["call"]):
        return None
    return found["call"]


def call_tag(call_id: str | None) -> str | None:
    """The owner's mark in ``call_id``: its first field (8 hex digits), if it is a call id."""
    if call_id is None or not CALL_ID_RE.fullmatch(call_id):
        return None
    return call_id[2:10]


def headers_for(
    owner: Owner, headers: Iterable[tuple[str, str]], ours: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """The request headers sent to ``owner``: no hop-by-hop ones, our tokens made its own.

    ``ours(token)`` says whether a bearer token is one the router's side handed out (and
    so one the owner does not know); any other credential passes as it came.
    """
    out = []
    for name, value in forwarded(headers):
        token = _bearer(name, value)
        out.append((name, f"Bearer {owner.token}" if token is not None and ours(token) else value))
    return out


def _bearer(name: str, value: str) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; None for any other header."""
    scheme, _, credential = value.partition(" ")
    if name.lower() != "authorization" or scheme.lower() != "bearer":
        return None
    return credential.strip()


def error_body(description: str) -> bytes:
    """The JSON body of an error the router answers itself."""
    return json.dumps({"type": ERROR_TYPE, "description": description}).encode()


def unreachable(owner: Owner, exc: Exception) -> str:
    """What to say when ``owner`` did not answer a request for one of its calls."""
    return (
        f"{owner.name} ({owner.url}), which owns this call, did not answer ({exc!r}): it "
        "has stopped or crashed, so its calls cannot go on; see its log or the run's report"
    )


async def refuse(send: Send, status: int, description: str) -> None:
    """Answer an error of the router's own: ``status``, the one JSON error shape."""
    await answer(send, status, [("content-type", "application/json")], error_body(description))


class Forwarder:
    """The shell: one HTTP client to every owner, opened on first use."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def pass_on(
        self,
        owner: Owner,
        scope: Scope,
        body: bytes,
        send: Send,
        *,
        ours: Callable[[str], bool],
        look: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        """Send the request of ``scope`` to ``owner`` and relay its answer (502 if none).

        ``look`` sees the answer before the client does (a router learns the tokens it
        hands out there, before the bot can use them).
        """
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = owner.url + (path + b"?" + query if query else path).decode("latin-1")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, trust_env=False)
        headers = headers_for(owner, scope_headers(scope), ours)
        try:
            reply = await self._client.request(scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            await refuse(send, 502, unreachable(owner, exc))
            return
        if look is not None:
            look(reply)
        await relay(send, reply)

    async def aclose(self) -> None:
        """Close the connections to the owners."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
