"""The fake OAuth endpoint and Voice API, as an ASGI app served by a real uvicorn.

Routes (docs/bandwidth.md §4):

- ``POST /api/v1/oauth2/token``: client credentials (HTTP Basic) and form
  ``grant_type=client_credentials`` → ``{access_token, token_type, expires_in}``;
  401 ``invalid_client``, 400 ``unsupported_grant_type``.
- ``POST /api/v2/accounts/{accountId}/calls/{callId}``: update call (``state``
  ``completed`` hangs up → 200; ``redirectUrl`` records a redirect).
- ``PUT /api/v2/accounts/{accountId}/calls/{callId}/bxml``: replace the call's BXML
  (``application/xml``, ``<Bxml>`` root, 64 KB) → 204; a ``<Transfer>`` hands the caller on.
- ``GET /api/v2/accounts/{accountId}/calls/{callId}``: the ``callState`` object.
- ``GET /api/v2/accounts/{accountId}/calls``: the account's calls, filtered by the
  spec's query (:mod:`simulator.rest.list_calls`).
- ``POST /api/v2/accounts/{accountId}/calls``: create an outbound call → 201; the call
  goes to whoever expects it (:class:`~simulator.rest.outbound.OutboundDesk`).
- Every other Voice operation Bandwidth documents (conferences, recordings,
  transcriptions, statistics): ``501`` with a ``not-simulated`` error naming it
  (:mod:`simulator.rest.unsimulated`).
- ``/_bwsim/…``: the simulator's own control API (health, journal, caller lines), for
  the run's own parts only: each request needs ``Authorization: Bearer`` with the run's
  :attr:`VoiceApiApp.control_token`, a loopback ``Host``, and JSON on a POST
  (:mod:`simulator.rest.control_guard`).

The app is a small hand-written ASGI dispatcher rather than FastAPI routes, because
every request, including malformed and unrouted ones, must be journaled with the exact
status sent, and faults must be able to drop a connection mid-response.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.update_call import UpdateCallInvalid, parse_update_call
from simulator.rest.bodies import body_cap, read_body
from simulator.rest.control_guard import check_control_request, new_control_token
from simulator.rest.fake import FakeBandwidth, IssuedToken
from simulator.rest.faults import default_error_body
from simulator.rest.journal import JournalEntry
from simulator.rest.list_calls import ListCallsInvalid, list_calls
from simulator.rest.outbound import create_outbound_call
from simulator.rest.registry import CallPhase, InvalidTransition
from simulator.rest.relay import lifespan
from simulator.rest.routes import Route
from simulator.rest.unsimulated import not_simulated_detail

__all__ = ["VoiceApiApp", "classify"]

_CALL = r"/api/v2/accounts/(?P<account>[^/]+)/calls/(?P<call>[^/]+)"
_PATTERNS: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^/api/v1/oauth2/token/?$"), {"POST": Route.TOKEN}),
    (re.compile(rf"^{_CALL}/bxml/?$"), {"PUT": Route.UPDATE_BXML}),
    (re.compile(rf"^{_CALL}/?$"), {"POST": Route.UPDATE_CALL, "GET": Route.GET_CALL}),
    (
        re.compile(r"^/api/v2/accounts/(?P<account>[^/]+)/calls/?$"),
        {"GET": Route.LIST_CALLS, "POST": Route.CREATE_CALL},
    ),
]


def classify(method: str, path: str) -> tuple[str, str | None, str | None]:
    """Name the route of a request: ``(route, account_id, call_id)``.

    ``route`` is ``method-not-allowed`` for a known path with the wrong method,
    ``control`` for the simulator's own API, and ``unrouted`` for anything else.
    """
    if path.startswith("/_bwsim/") or path == "/_bwsim":
        return Route.CONTROL, None, None
    for pattern, methods in _PATTERNS:
        m = pattern.match(path)
        if m is None:
            continue
        groups = m.groupdict()
        route = methods.get(method.upper(), Route.METHOD_NOT_ALLOWED)
        return route, groups.get("account"), groups.get("call")
    return Route.UNROUTED, None, None


@dataclass
class _Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    route: str
    account_id: str | None
    call_id: str | None
    entry: JournalEntry
    server_host: str | None = None
    """The address the server is bound to (the Host a control request may name)."""

    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
        h = {"content-type": "application/json"}
        h.update(headers or {})
        return cls(status, json.dumps(payload).encode(), h)

    @classmethod
    def error(cls, status: int, description: str, kind: str | None = None) -> _Response:
        body = default_error_body(status)
        body["description"] = description
        if kind is not None:
            body["type"] = kind
        return cls.json(status, body)


class _DropConnection(Exception):
    """Raised after the response head is sent: uvicorn then closes the connection."""


Handler = Callable[[_Request], Awaitable[_Response]]


class VoiceApiApp:
    """ASGI app answering as Bandwidth's OAuth endpoint and Voice API."""

    def __init__(self, fake: FakeBandwidth) -> None:
        self.fake = fake
        self._handlers: dict[str, Handler] = {
            Route.TOKEN: self._token,
            Route.UPDATE_CALL: self._update_call,
            Route.UPDATE_BXML: self._update_bxml,
            Route.GET_CALL: self._get_call,
            Route.LIST_CALLS: self._list_calls,
            Route.CREATE_CALL: self._create_call,
            Route.CONTROL: self._control,
            Route.METHOD_NOT_ALLOWED: self._method_not_allowed,
            Route.UNROUTED: self._unrouted,
        }
        self.control_routes: dict[tuple[str, str], Handler] = {}
        self.control_token = new_control_token()
        """The token every ``/_bwsim/*`` request must carry (``control_guard``)."""

    def add_control_route(
        self, method: str, path: str, handler: Callable[[bytes], Awaitable[tuple[int, Any]]]
    ) -> None:
        """Serve ``method path`` under ``/_bwsim/``: ``handler(body)`` returns (status, JSON)."""
        if not path.startswith("/_bwsim/"):
            raise ValueError(f"control routes live under /_bwsim/, not {path!r}")

        async def serve(request: _Request) -> _Response:
            status, payload = await handler(request.body)
            return _Response.json(status, payload)

        self.control_routes[(method.upper(), path.rstrip("/"))] = serve

    # -- ASGI -----------------------------------------------------------------------

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Serve one HTTP request (lifespan handled; websocket handshakes journaled, refused)."""
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        raw_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        method = scope["method"]
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        route, account_id, call_id = classify(method, path)
        body, too_large = await read_body(receive, raw_headers, body_cap(route))
        started = time.monotonic()
        entry = self.fake.journal.start(
            method=method,
            path=path,
            query=query,
            route=route,
            account_id=account_id,
            call_id=call_id,
            headers=raw_headers,
            body=bytes(body),
        )
        request = _Request(
            method=method,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in raw_headers},
            body=bytes(body),
            route=route,
            account_id=account_id,
            call_id=call_id,
            entry=entry,
            server_host=(scope.get("server") or (None,))[0],
        )
        if too_large:
            await self._too_large(request, send, started)
            return
        fault = self.fake.faults.match(route) if route != Route.CONTROL else None
        if fault is not None:
            entry.fault = fault.label
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            if fault.drop:
                entry.note = "connection dropped by fault injection"
                await send({"type": "http.response.start", "status": 200, "headers": []})
                raise _DropConnection(fault.label)
        if fault is not None and fault.status is not None:
            payload = fault.response_body()
            if isinstance(payload, str):
                response = _Response(fault.status, payload.encode(), {"content-type": "text/plain"})
            else:
                response = _Response.json(fault.status, payload)
            response.headers.update(fault.headers)
        else:
            response = await self._handlers[route](request)
        entry.status = response.status
        entry.response_body = response.body[:4096].decode("utf-8", errors="replace")
        entry.duration_ms = (time.monotonic() - started) * 1000
        self.fake.journal.answered(entry)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _too_large(
        self, request: _Request, send: Callable[[dict[str, Any]], Awaitable[None]], started: float
    ) -> None:
        """Answer 413 to a body over the route's cap, read no further, and close."""
        cap = body_cap(request.route)
        response = _Response.error(
            413, f"Request body is larger than {cap} bytes, the most this endpoint accepts"
        )
        response.headers["connection"] = "close"
        entry = request.entry
        entry.note = f"request body over {cap} bytes: not read past the limit"
        entry.status = response.status
        entry.response_body = response.body.decode("utf-8", errors="replace")
        entry.duration_ms = (time.monotonic() - started) * 1000
        self.fake.journal.answered(entry)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _refuse_websocket(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Journal a websocket handshake (a bot's, routed here) and refuse it with 403.

        Bandwidth's API hosts serve no websocket, so a bot that opens one there is wrong;
        the journal shows that the handshake reached the fake and not the real host.
        """
        path = scope["path"]
        entry = self.fake.journal.start(
            method="GET",
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            route=Route.UNROUTED,
            account_id=None,
            call_id=None,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body=b"",
        )
        entry.note = "websocket handshake: Bandwidth's API serves no websocket"
        self.fake.journal.violation(
            "unrouted-request",
            f"the bot opened a websocket to the fake Bandwidth API at {path}; Bandwidth's "
            "API hosts serve no websocket",
            method="GET",
            url=path,
        )
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        entry.status = 403
        self.fake.journal.answered(entry)

    # -- authentication -------------------------------------------------------------

    def _authenticate(self, request: _Request) -> IssuedToken | _Response:
        """Check Voice API credentials against the path's account (docs/bandwidth.md §4.2)."""
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        scheme = scheme.lower()
        issued: IssuedToken | None = None
        if scheme == "bearer" and credential:
            issued = self.fake.lookup_token(credential.strip())
            if issued is None:
                known = self.fake.tokens.get(credential.strip())
                why = "has expired" if known is not None else "was not issued by this server"
                return _Response.error(
                    401,
                    f"The credentials provided were invalid: the Bearer token {why}. "
                    "Fetch a new token from POST /api/v1/oauth2/token.",
                )
        elif scheme == "basic" and self.fake.settings.accept_basic_auth:
            account = self._basic_account(credential)
            if account is None:
                return _Response.error(401, "The credentials provided were invalid")
            issued = IssuedToken("basic", account.client_id, account.account_id, float("inf"))
        else:
            hint = (
                "Basic (API user) credentials are not accepted: legacy API users are "
                "decommissioned on 2026-12-02; use OAuth client credentials"
                if scheme == "basic"
                else "send Authorization: Bearer <token from /api/v1/oauth2/token>"
            )
            return _Response.error(401, f"The credentials provided were invalid: {hint}")
        request.entry.client_id = issued.client_id
        request.entry.bearer_account_id = issued.account_id
        if request.account_id is not None and issued.account_id != request.account_id:
            return _Response.error(
                403,
                f"Access is denied: the token belongs to account {issued.account_id}, "
                f"not {request.account_id}",
            )
        return issued

    def _basic_account(self, credential: str) -> Any:
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return None
        return self.fake.registry.account_for_client(client_id, secret)

    # -- OAuth ----------------------------------------------------------------------

    async def _token(self, request: _Request) -> _Response:
        def oauth_error(status: int, error: str, description: str) -> _Response:
            headers = {"cache-control": "no-store"}
            if status == 401:
                headers["www-authenticate"] = 'Basic realm="bandwidth"'
            body = {"error": error, "error_description": description}
            return _Response.json(status, body, headers)

        form = parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            account = self._basic_account(credential)
        elif "client_id" in form and "client_secret" in form:
            account = self.fake.registry.account_for_client(
                form["client_id"][0], form["client_secret"][0]
            )
        else:
            return oauth_error(
                401,
                "invalid_client",
                "client authentication missing: send HTTP Basic client_id:client_secret",
            )
        if account is None:
            return oauth_error(401, "invalid_client", "client authentication failed")
        request.entry.client_id = account.client_id
        request.entry.bearer_account_id = account.account_id
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            return oauth_error(
                400,
                "unsupported_grant_type",
                f"grant_type must be client_credentials, got {grant!r}",
            )
        issued = self.fake.issue_token(account)
        return _Response.json(
            200,
            {
                "access_token": issued.token,
                "token_type": self.fake.settings.token_type,
                "expires_in": int(self.fake.settings.token_lifetime_s),
            },
            {"cache-control": "no-store"},
        )

    # -- Voice API ------------------------------------------------------------------

    def _call_or_404(self, request: _Request) -> Any:
        assert request.account_id is not None
        assert request.call_id is not None
        call = self.fake.registry.find(request.account_id, request.call_id)
        if call is None:
            return _Response.error(404, f"Call [{request.call_id}] not found")
        return call

    def _modifiable_call(self, request: _Request) -> Any:
        """The call named by the path if it can still be modified, else the error response."""
        call = self._call_or_404(request)
        if isinstance(call, _Response):
            return call
        if not call.active:
            return self._ended(request)
        return call

    def _ended(self, request: _Request) -> _Response:
        status = self.fake.settings.ended_call_status
        if status == 409:
            return _Response.error(
                409, f"Call [{request.call_id}] cannot be modified in its current state"
            )
        return _Response.error(404, f"Call [{request.call_id}] not found")

    async def _update_call(self, request: _Request) -> _Response:
        auth = self._authenticate(request)
        if isinstance(auth, _Response):
            return auth
        if request.content_type() != "application/json":
            ct = request.headers.get("content-type", "(none)")
            return _Response.error(415, f"Content type '{ct}' not supported")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _Response.error(400, "Request body is not valid JSON")
        try:
            state = parse_update_call(body)
        except UpdateCallInvalid as err:
            return _Response.error(400, str(err))
        call = self._modifiable_call(request)
        if isinstance(call, _Response):
            return call
        try:
            if state == "completed":
                self.fake.registry.request_hangup(call.call_id, source="voice-api")
            else:
                self.fake.registry.request_redirect(call.call_id, body)
        except InvalidTransition:
            return self._ended(request)
        return _Response(200)

    async def _update_bxml(self, request: _Request) -> _Response:
        auth = self._authenticate(request)
        if isinstance(auth, _Response):
            return auth
        if request.content_type() != "application/xml":
            ct = request.headers.get("content-type", "(none)")
            return _Response.error(
                415, f"Content type '{ct}' not supported: PUT /bxml takes application/xml"
            )
        call = self._modifiable_call(request)
        if isinstance(call, _Response):
            return call
        if call.phase is CallPhase.INITIATED:
            # Not answered yet: "unable to be modified" (docs/bandwidth.md §4.5).
            return _Response.error(
                409, f"Call [{request.call_id}] cannot be modified in its current state"
            )
        try:
            doc = parse_bxml(
                request.body,
                context="update",
                strict_root=self.fake.settings.strict_update_root,
            )
        except BxmlError as err:
            return _Response.error(400, str(err))
        text = request.body.decode("utf-8", errors="replace")
        try:
            self.fake.registry.replace_bxml(call.call_id, text)
            transfers = doc.transfers()
            if transfers:
                first = transfers[0]
                targets = tuple(t.value for t in first.targets)
                self.fake.registry.transfer(call.call_id, targets, dict(first.attributes))
        except InvalidTransition:
            return self._ended(request)
        return _Response(204)

    async def _get_call(self, request: _Request) -> _Response:
        auth = self._authenticate(request)
        if isinstance(auth, _Response):
            return auth
        call = self._call_or_404(request)
        if isinstance(call, _Response):
            return call
        if call.phase is CallPhase.TRANSFERRED:
            # The transfer holds the call (docs/bandwidth.md §5.5): GET answers as a
            # modification would, so the two never disagree about it.
            return self._ended(request)
        return _Response.json(200, call.state_object())

    async def _list_calls(self, request: _Request) -> _Response:
        auth = self._authenticate(request)
        if isinstance(auth, _Response):
            return auth
        assert request.account_id is not None
        try:
            calls = list_calls(self.fake.registry.calls.values(), request.account_id, request.query)
        except ListCallsInvalid as err:
            return _Response.error(400, str(err))
        return _Response.json(200, calls)

    async def _create_call(self, request: _Request) -> _Response:
        """Create Call (docs/bandwidth.md §4.7): 201 and the call goes to its callee."""
        auth = self._authenticate(request)
        if isinstance(auth, _Response):
            return auth
        if request.content_type() != "application/json":
            ct = request.headers.get("content-type", "(none)")
            return _Response.error(415, f"Content type '{ct}' not supported")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _Response.error(400, "Request body is not valid JSON")
        assert request.account_id is not None
        fake = self.fake
        created = create_outbound_call(
            fake.registry, fake.journal, fake.outbound, request.account_id, body
        )
        if isinstance(created, str):
            return _Response.error(400, created)
        request.entry.call_id = created["callId"]
        return _Response.json(201, created, {"location": created["callUrl"]})

    async def _method_not_allowed(self, request: _Request) -> _Response:
        self.fake.journal.violation(
            "method-not-allowed",
            f"{request.method} is not an operation on {request.path}",
            method=request.method,
            url=request.path,
        )
        return _Response.error(405, "Method Not Allowed")

    async def _unrouted(self, request: _Request) -> _Response:
        detail = not_simulated_detail(request.method, request.path)
        if detail is not None:  # documented by Bandwidth, not modelled here
            self.fake.journal.violation(
                "not-simulated", detail, method=request.method, url=request.path
            )
            return _Response.error(501, detail, "not-simulated")
        self.fake.journal.violation(
            "unrouted-request",
            f"the fake Bandwidth has no route for {request.method} {request.path}: "
            "is the URL right? (OAuth: /api/v1/oauth2/token; Voice: /api/v2/accounts/…)",
            method=request.method,
            url=request.path,
        )
        return _Response.error(404, f"No route for {request.method} {request.path}")

    # -- the simulator's own control API -------------------------------------------

    async def _control(self, request: _Request) -> _Response:
        refusal = check_control_request(
            request.method,
            request.headers,
            token=self.control_token,
            bound_host=request.server_host,
        )
        if refusal is not None:
            return _Response.error(refusal.status, refusal.description, refusal.kind)
        path = request.path.rstrip("/")
        m = re.match(r"^/_bwsim/calls/(?P<call>[^/]+)/caller-lines$", path)
        if request.method == "GET" and m:
            return _Response.json(200, {"lines": self.fake.caller_lines.get(m["call"], [])})
        if request.method == "GET" and path == "/_bwsim/health":
            return _Response.json(200, {"ok": True})
        if request.method == "GET" and path == "/_bwsim/journal":
            return _Response.json(
                200,
                {
                    "requests": [e.to_dict() for e in self.fake.journal.bot_requests()],
                    "violations": [v.to_dict() for v in self.fake.journal.violations],
                },
            )
        if request.method == "GET" and path == "/_bwsim/calls":
            return _Response.json(
                200, [c.state_object() for c in self.fake.registry.calls.values()]
            )
        handler = self.control_routes.get((request.method, path))
        if handler is not None:
            return await handler(request)
        return _Response.error(404, f"No control route {request.method} {path}")
