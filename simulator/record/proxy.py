"""The capture proxy's ASGI app: every webhook and media frame forwarded, and recorded.

Every HTTP request (any method, any path) is a webhook from Bandwidth. It is forwarded to
the bot at the same path and query, its body byte for byte and its headers as they came
(``Authorization`` included, so a bot that checks Basic credentials keeps working),
except the hop-by-hop ones and ``Host``. The bot's status, headers and body go back to
Bandwidth, with one change: in a BXML answer the URLs Bandwidth would connect or call back
to are pointed at the recorder (:mod:`simulator.protocol.bxml_rewrite`). A bot that does
not answer gets Bandwidth a ``502`` (``504`` on a timeout) with a plain message, and the
archive records why.

A WebSocket to ``/_bwsim/record/stream/KEY`` (the rewritten ``<StartStream destination>``)
is opened to the bot (at the original destination, or at ``--bot`` when that names the
recorder or loopback: :func:`~simulator.protocol.bxml_rewrite.stream_upstream`) with the
same subprotocols and headers (``Authorization`` included); only once the bot has
accepted is Bandwidth's accepted, with the subprotocol the bot chose (a bot that refuses
the upgrade refuses Bandwidth with the same status). Frames are forwarded both ways as
they arrive, text as text and binary as binary, and a close is passed on with its code
and reason. A WebSocket on any other path is forwarded to the bot at that path.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulator.archive.model import StreamRecord, WebhookRecord
from simulator.protocol.bxml_rewrite import rewrite_bxml, stream_upstream
from simulator.record.capture import CallCapture, Captures, StreamTarget
from simulator.record.voice_api import ApiCapture
from simulator.rest.relay import (
    HOP_BY_HOP,
    Receive,
    Scope,
    Send,
    forwarded,
    lifespan,
    plain,
    read_body,
    relay,
    scope_headers,
)

__all__ = ["STREAM_PREFIX", "RecordApp"]

STREAM_PREFIX = "/_bwsim/record/stream/"
"""Where the rewritten ``<StartStream destination>`` points: the key follows."""
WS_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
        "user-agent",
    }
)
"""Handshake headers the recorder's own WebSocket client sets for the bot's side."""
UNSENDABLE = frozenset({1005, 1006, 1015})
"""Close codes that say no close frame came: never sent on the wire (RFC 6455 §7.4.1)."""
WEBHOOK_TIMEOUT_S = 30.0
"""How long the recorder waits for the bot's answer (Bandwidth gives up sooner)."""
CONNECT_TIMEOUT_S = 10.0


class RecordApp:
    """The capture proxy in front of the bot at ``bot_url``, recording into ``captures``."""

    def __init__(
        self,
        bot_url: str,
        captures: Captures,
        *,
        public_url: str | None = None,
        voice_api: str | None = None,
        oauth_url: str | None = None,
    ) -> None:
        self.bot_url = bot_url.rstrip("/")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.captures = captures
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(WEBHOOK_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            follow_redirects=False,
            trust_env=False,
        )
        self.client.headers.clear()  # no Accept/User-Agent of httpx's own: only what came
        self.api = (
            ApiCapture(self.client, captures, voice_api, oauth_url)
            if voice_api or oauth_url
            else None
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Close the HTTP client and wait for pending saves."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: a webhook, a media stream, or the lifespan."""
        kind = scope["type"]
        if kind == "http":
            await self._webhook(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await lifespan(receive, send, self.aclose)

    # -- webhooks ---------------------------------------------------------------------------

    def _base(self, scope: Scope, headers: list[tuple[str, str]]) -> str:
        """The recorder's public ``http(s)://host[:port]``: ``--public-url`` or the request's."""
        if self.public_url:
            parts = urlsplit(self.public_url)
            return urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        got = dict(headers)
        scheme = got.get("x-forwarded-proto") or str(scope.get("scheme") or "http")
        scheme = scheme.split(",")[0].strip()
        host = (got.get("x-forwarded-host") or got.get("host") or "").split(",")[0].strip()
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{'https' if scheme in ('https', 'wss') else 'http'}://{host}"

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.monotonic()
        body = await read_body(receive)
        if body is None:
            return
        raw_headers = scope_headers(scope)
        lower = [(k.lower(), v) for k, v in raw_headers]
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        if self.api is not None and self.api.claims(path):
            await self.api.forward(
                scope, send, target=target, headers=raw_headers, body=body, arrived=arrived
            )
            return
        text = body.decode("utf-8", errors="replace")
        call = self.captures.call_for(text)
        record = call.add_webhook(
            WebhookRecord(
                at_ms=call.ms(arrived),
                method=scope["method"],
                path=target,
                headers=dict(raw_headers),
                body=text,
            )
        )
        try:
            answer = await self.client.request(
                scope["method"], self.bot_url + target, content=body, headers=forwarded(raw_headers)
            )
        except httpx.TimeoutException:
            error = f"the bot at {self.bot_url} gave no answer within {WEBHOOK_TIMEOUT_S:g} s"
            await self._fail(send, call, record, 504, error)
            return
        except httpx.HTTPError as exc:
            error = f"the bot at {self.bot_url} did not answer: {type(exc).__name__}: {exc}"
            await self._fail(send, call, record, 502, error)
            return
        content = answer.content
        answer_text = content.decode(answer.encoding or "utf-8", errors="replace")
        out = content
        if _is_bxml(answer.headers.get("content-type", ""), answer_text):
            base = self._base(scope, lower)
            rewritten = rewrite_bxml(answer_text, base, lambda d: self._stream_url(call, d, base))
            if rewritten.text != answer_text:
                out = rewritten.text.encode("utf-8")
        await relay(send, answer, out)
        call.answered(record, answer.status_code, answer_text, dict(answer.headers), None)
        self._save_soon(call)

    async def _fail(
        self, send: Send, call: CallCapture, record: WebhookRecord, status: int, error: str
    ) -> None:
        await plain(send, status, f"bwsim record: {error}\n")
        call.answered(record, None, "", {}, error)
        self._save_soon(call)

    def _stream_url(self, call: CallCapture, destination: str, base: str) -> str:
        """Remember where a stream really goes; return the recorder's URL for it."""
        key = secrets.token_urlsafe(9)
        self.captures.streams[key] = StreamTarget(
            call=call, destination=destination, upstream=self._upstream(destination, base)
        )
        scheme = "wss" if base.startswith("https") else "ws"
        return f"{scheme}://{urlsplit(base).netloc}{STREAM_PREFIX}{key}"

    def _upstream(self, destination: str, base: str) -> str:
        """The bot's WebSocket URL for a destination (:func:`stream_upstream`)."""
        return stream_upstream(destination, urlsplit(base).netloc, self.bot_url)

    def _save_soon(self, call: CallCapture) -> None:
        task = asyncio.create_task(self.captures.saved(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- media streams ------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith(STREAM_PREFIX):
            target = self.captures.streams.get(path[len(STREAM_PREFIX) :])
            if target is None:
                await receive()
                await self._deny(scope, send, 404, "bwsim record: no stream has this key\n")
                return
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            upstream = self._upstream(path + (f"?{query}" if query else ""), "")
            call = self.captures.call_for("")
            target = StreamTarget(call=call, destination=path, upstream=upstream)
        await receive()  # websocket.connect
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP | WS_HANDSHAKE
        ]
        user_agent = dict(scope["headers"]).get(b"user-agent")
        try:
            bot = await websockets.connect(
                target.upstream,
                subprotocols=scope.get("subprotocols") or None,
                additional_headers=headers,
                user_agent_header=user_agent.decode("latin-1") if user_agent else None,
                open_timeout=CONNECT_TIMEOUT_S,
                ping_interval=None,
                max_size=None,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body or b""
            await self._deny(scope, send, status, body.decode("utf-8", "replace"))
            self._stream_failed(target, f"the bot refused the stream: HTTP {status}")
            return
        except Exception as exc:  # noqa: BLE001 - any failure to reach the bot refuses the stream
            await self._deny(scope, send, 502, f"bwsim record: the bot's stream failed: {exc}\n")
            self._stream_failed(target, f"could not connect to {target.upstream}: {exc}")
            return
        await send({"type": "websocket.accept", "subprotocol": bot.subprotocol})
        call = target.call
        stream = call.open_stream(target.destination)
        try:
            await self._pump(call, stream, receive, send, bot)
        finally:
            await bot.close()
            self._save_soon(call)

    async def _pump(
        self,
        call: CallCapture,
        stream: StreamRecord,
        receive: Receive,
        send: Send,
        upstream: ClientConnection,
    ) -> None:
        """Forward frames both ways until either side closes; pass the close on."""
        pipe = _Pipe(call, stream, receive, send, upstream)
        caller = asyncio.create_task(pipe.from_caller())
        bot = asyncio.create_task(pipe.from_bot())
        try:
            done, _ = await asyncio.wait({caller, bot}, return_when=asyncio.FIRST_COMPLETED)
            # One side closed and the close was passed on: let the other side answer it.
            other = bot if caller in done else caller
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(other), CONNECT_TIMEOUT_S)
        finally:
            for task in (caller, bot):
                task.cancel()
            await asyncio.gather(caller, bot, return_exceptions=True)

    def _stream_failed(self, target: StreamTarget, error: str) -> None:
        call = target.call
        stream = call.open_stream(target.destination)
        call.close_stream(stream, "bot", None, error)
        self._save_soon(call)

    async def _deny(self, scope: Scope, send: Send, status: int, text: str) -> None:
        """Refuse a WebSocket upgrade with ``status`` (a plain close when the server cannot)."""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            body = text.encode()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})


def _is_bxml(content_type: str, text: str) -> bool:
    return "xml" in content_type.lower() or text.lstrip().startswith("<")


class _Pipe:
    """One stream's two directions, each recording what it forwards."""

    def __init__(
        self,
        call: CallCapture,
        stream: StreamRecord,
        receive: Receive,
        send: Send,
        upstream: ClientConnection,
    ) -> None:
        self.call, self.stream = call, stream
        self.receive, self.send, self.upstream = receive, send, upstream

    async def from_caller(self) -> None:
        """Bandwidth → bot, then Bandwidth's close passed on to the bot."""
        while True:
            message = await self.receive()
            at = time.monotonic()
            if message["type"] == "websocket.receive":
                data: str | bytes | None = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                with contextlib.suppress(ConnectionClosed):
                    await self.upstream.send(data)
                self.call.frame(self.stream, "caller", data, at)
            elif message["type"] == "websocket.disconnect":
                code = int(message.get("code", 1005))
                reason = str(message.get("reason") or "")
                if self.stream.closed_ms is None:
                    self.call.close_stream(self.stream, "caller", code, reason)
                    with contextlib.suppress(ConnectionClosed):
                        await self.upstream.close(1000 if code in UNSENDABLE else code, reason)
                return

    async def from_bot(self) -> None:
        """Bot → Bandwidth, then the bot's close passed on to Bandwidth."""
        try:
            async for received in self.upstream:
                at = time.monotonic()
                data = received if isinstance(received, str) else bytes(received)
                if isinstance(data, str):
                    await self.send({"type": "websocket.send", "text": data})
                else:
                    await self.send({"type": "websocket.send", "bytes": data})
                self.call.frame(self.stream, "bot", data, at)
        except ConnectionClosed:
            pass
        if self.stream.closed_ms is not None:
            return  # Bandwidth's side closed first: that close was passed on
        rcvd = self.upstream.protocol.close_rcvd
        code = rcvd.code if rcvd is not None else 1006
        reason = rcvd.reason if rcvd is not None else ""
        self.call.close_stream(self.stream, "bot", code, reason)
        sent = 1011 if code == 1006 else 1000 if code in UNSENDABLE else code
        with contextlib.suppress(Exception):  # Bandwidth's side may be gone already
            await self.send({"type": "websocket.close", "code": sent, "reason": reason})
