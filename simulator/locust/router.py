"""One Voice API address for a bot whose calls come from many Locust workers.

The bot under test is given one ``BANDWIDTH_OAUTH_URL``/``BANDWIDTH_VOICE_API_URL`` (and
``BWSIM_CONTROL_URL``), but each call lives in the fake Bandwidth of the worker that placed
it. The router is that one address: every worker registers its fake's URL and its tag (the
first field of every call id it mints, ``c-<tag>-<uuid4>``), and the router sends each
request that names a call (``…/calls/{callId}…``, the Voice API's and the control API's
``/_bwsim/calls/{callId}/caller-lines``) to the worker that owns it. Token requests
(``POST /api/v1/oauth2/token``) and the requests that name no call go to the first worker
that registered, which checks the client credentials as Bandwidth would.

A token is issued by one worker's fake but used on calls of every worker: the router
remembers the tokens it handed out and, on a request for another worker's call, puts that
worker's own token (given when it registered) in place of it. A token the router never
handed out is passed on as it is, so the owner refuses it (401) as Bandwidth would.

Workers register with ``POST /_bwsim/router/workers`` (JSON ``tag``, ``url``, ``token``),
carrying the run's control token (``Authorization: Bearer $BWSIM_CONTROL_TOKEN``).

Run it next to the bot with ``python -m simulator.locust.router --port 9050`` or inside
the Locust master with ``--bwsim-router-port 9050``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.errors import TargetError
from simulator.rest.control_guard import TOKEN_VAR
from simulator.runner.servers import serve

__all__ = ["REGISTER_PATH", "Router", "WorkerEntry", "main", "register_worker"]

REGISTER_PATH = "/_bwsim/router/workers"
_OWNER = re.compile(r"/calls/c-(?P<tag>[0-9a-f]{8})-")
_HOP_BY_HOP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"}
)
_TIMEOUT_S = 30.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class WorkerEntry:
    """A registered worker: its tag, its fake's base URL, a token of its fake."""

    tag: str
    url: str
    token: str


@dataclass
class Router:
    """The ASGI app of the router (see the module docstring)."""

    control_token: str
    workers: dict[str, WorkerEntry] = field(default_factory=dict)
    handed_out: set[str] = field(default_factory=set)
    """Tokens a worker issued through the router: replaced by the owner's on each call."""
    _client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=_TIMEOUT_S, trust_env=False)
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: lifespan, or an HTTP request passed on."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._client is not None:
                        await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # the Voice API has no websockets: uvicorn refuses the upgrade
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, headers, payload = await self.handle(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body,
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one request: a registration, or a request passed on to its worker."""
        if path == REGISTER_PATH:
            return self._register(method, headers, body)
        if not self.workers:
            return _error(503, "no Locust worker has registered with the router yet")
        owner = _OWNER.search(path)
        if owner is None:
            worker = next(iter(self.workers.values()))
        else:
            found = self.workers.get(owner["tag"])
            if found is None:
                return _error(404, f"no registered worker owns calls tagged {owner['tag']}")
            worker = found
        out = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
        bearer = out.get("authorization", "")
        if bearer.startswith("Bearer ") and bearer[7:] in self.handed_out:
            out["authorization"] = f"Bearer {worker.token}"
        url = worker.url + path + (f"?{query}" if query else "")
        try:
            reply = await self._http().request(method, url, headers=out, content=body)
        except httpx.HTTPError as exc:
            return _error(502, f"worker {worker.tag} at {worker.url} did not answer: {exc!r}")
        if path.rstrip("/") == "/api/v1/oauth2/token" and reply.status_code == 200:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.handed_out.add(str(reply.json()["access_token"]))
        kept = [(k, v) for k, v in reply.headers.items() if k.lower() not in _HOP_BY_HOP]
        kept = [(k, v) for k, v in kept if k.lower() != "content-encoding"]
        return reply.status_code, kept, reply.content

    def _register(
        self, method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if method != "POST":
            return _error(405, f"{REGISTER_PATH} takes POST")
        given = headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.control_token.encode()):
            return _error(401, f"registering needs Authorization: Bearer ${TOKEN_VAR}")
        try:
            data = json.loads(body)
            entry = WorkerEntry(str(data["tag"]), str(data["url"]).rstrip("/"), str(data["token"]))
        except (ValueError, KeyError, TypeError):
            return _error(400, "the body must be JSON with tag, url and token")
        if not re.fullmatch(r"[0-9a-f]{8}", entry.tag):
            return _error(400, f"a tag is 8 lower-case hex digits, not {entry.tag!r}")
        self.workers[entry.tag] = entry
        return 200, [("content-type", "application/json")], b'{"registered": true}'


def _error(status: int, description: str) -> tuple[int, list[tuple[str, str]], bytes]:
    payload = json.dumps({"type": "bwsim-router", "description": description}).encode()
    return status, [("content-type", "application/json")], payload


async def register_worker(router_url: str, control_token: str, entry: WorkerEntry) -> None:
    """Register a worker's fake with the router at ``router_url``; raise if it refuses."""
    async with httpx.AsyncClient(timeout=_TIMEOUT_S, trust_env=False) as client:
        reply = await client.post(
            router_url.rstrip("/") + REGISTER_PATH,
            json={"tag": entry.tag, "url": entry.url, "token": entry.token},
            headers={"Authorization": f"Bearer {control_token}"},
        )
    if reply.status_code != 200:
        raise RuntimeError(
            f"the router at {router_url} refused this worker ({reply.status_code}): {reply.text}"
        )


async def _serve_forever(router: Router, host: str, port: int) -> None:
    async with serve(router, host=host, port=port) as api:
        # The bound address (``--port 0`` takes any free port), for people and scripts.
        print(f"bwsim router: listening on {api.base_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.locust.router``: serve the router until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.locust.router",
        description="One Voice API address for the bot; each call's requests go to the "
        "Locust worker that placed it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9050, help="port to listen on (0: any)")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_VAR)
    if not token:
        print(
            f"bwsim router: error: set {TOKEN_VAR} (the same value for the workers and the "
            "bot): workers register with it",
            file=sys.stderr,
        )
        return 2
    try:
        asyncio.run(_serve_forever(Router(token), args.host, args.port))
    except KeyboardInterrupt:
        return 0
    except TargetError as exc:
        print(f"bwsim router: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
