"""``send_webhook`` against a real bot over loopback HTTP.

Contract under test (docs/bandwidth.md §2.1, §2.8): webhooks are POSTed as JSON (or
sent as GET query parameters); Basic auth follows the RFC 7235 challenge flow, so the
first request carries no Authorization and only a ``401`` with ``WWW-Authenticate:
Basic`` makes the simulator resend with credentials; a ``401`` without it loses the
callback; timeouts, refused connections and 5xx answers are outcomes, never exceptions.

The bot is a tiny FastAPI app under a real ``uvicorn.Server`` on ``127.0.0.1``, port 0,
started as an asyncio task; readiness is an event set when uvicorn's ``startup`` returns
(no sleep-and-retry).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from simulator.call.webhook_sender import send_webhook
from simulator.protocol.webhook_auth import EXTENSION_SIGNATURE_HEADER, WebhookAuth
from simulator.protocol.webhook_bodies import CallInfo, disconnect_body, initiate_body

USER, PASSWORD = "bot-user", "bot-pass-123"
BXML = '<?xml version="1.0" encoding="UTF-8"?><Response><Pause duration="1"/></Response>'
SECRET = "a-shared-secret-of-32-characters"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Seen:
    """One request the bot received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Bot:
    """The bot's recorded requests, its base URL, and the latch that holds the slow route."""

    base_url: str = ""
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on the bot."""
        return f"{self.base_url}{path}"


def _bot_app(bot: Bot) -> FastAPI:
    app = FastAPI()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    async def record(request: Request) -> None:
        bot.seen.append(
            Seen(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers=dict(request.headers),
                body=await request.body(),
            )
        )

    @app.api_route("/basic", methods=["GET", "POST"])
    async def basic(request: Request) -> Response:
        # As Bandwidth's pipecat example: 401 + WWW-Authenticate: Basic unless the
        # credentials are right, then BXML.
        await record(request)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bot"'})
        return Response(BXML, media_type="application/xml")

    @app.post("/no-challenge")
    async def no_challenge(request: Request) -> Response:
        await record(request)
        return Response(status_code=401)

    @app.post("/slow")
    async def slow(request: Request) -> Response:
        await record(request)
        # Held until teardown (bounded, so a failed teardown cannot hang the server).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bot.release.wait(), timeout=10)
        return Response(BXML, media_type="application/xml")

    @app.post("/drip")
    async def drip(request: Request) -> StreamingResponse:
        await record(request)

        async def chunks() -> AsyncIterator[bytes]:
            # A byte every 50 ms for 30 s: each read is quick, the whole answer is slow.
            yield b"<Response>"
            for _ in range(600):
                if bot.release.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bot.release.wait(), timeout=0.05)
                yield b" "

        return StreamingResponse(chunks(), media_type="application/xml")

    @app.post("/error")
    async def error(request: Request) -> Response:
        await record(request)
        return Response("Traceback: KeyError 'callId'", status_code=500)

    @app.post("/status")
    async def status(request: Request) -> Response:
        await record(request)
        return Response(status_code=204)

    return app


class _Server(uvicorn.Server):
    """uvicorn that signals readiness with an event and leaves the test's signals alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """Serve the bot app with a real uvicorn on 127.0.0.1, at a port the OS picked."""
    state = Bot()
    config = uvicorn.Config(
        _bot_app(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    ready = asyncio.create_task(server.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        task.cancel()
        pytest.fail(f"uvicorn did not start: {task.exception() if task.done() else 'timeout'}")
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    state.base_url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        state.release.set()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """Give the simulator an HTTP client."""
    async with httpx.AsyncClient() as http:
        yield http


def _initiate() -> dict[str, Any]:
    return initiate_body(CallInfo.new_inbound("+15551230000", "+15559870000", start_time=T0), T0)


async def test_challenge_flow_sends_two_requests_first_without_authorization(
    bot: Bot, client: httpx.AsyncClient
) -> None:
    """Challenge mode: no Authorization first, then Basic after the 401 challenge, then BXML."""
    exchange = await send_webhook(
        client,
        bot.url("/basic"),
        _initiate(),
        auth=WebhookAuth(mode="challenge", username=USER, password=PASSWORD),
    )
    assert [s.path for s in bot.seen] == ["/basic", "/basic"]
    assert "authorization" not in bot.seen[0].headers
    assert bot.seen[1].headers["authorization"].startswith("Basic ")
    assert bot.seen[0].body == bot.seen[1].body
    assert exchange.outcome == "challenge-ok"
    assert [a.status for a in exchange.attempts] == [401, 200]
    assert exchange.final_status == 200
    assert exchange.bxml_text == BXML
    assert exchange.content_type_ok is True
    assert exchange.error is None
    assert exchange.attempts[1].request_headers["authorization"] == "Basic ***"


async def test_preemptive_sends_one_request_with_credentials(
    bot: Bot, client: httpx.AsyncClient
) -> None:
    """Pre-emptive mode sends Basic credentials on the first and only request."""
    exchange = await send_webhook(
        client,
        bot.url("/basic"),
        _initiate(),
        auth=WebhookAuth(mode="preemptive", username=USER, password=PASSWORD),
    )
    assert len(bot.seen) == 1
    assert bot.seen[0].headers["authorization"].startswith("Basic ")
    assert exchange.outcome == "answered"
    assert exchange.bxml_text == BXML
    assert exchange.accepted_auth == "basic"


@pytest.mark.parametrize(
    ("mode", "authorization_prefix"),
    [("wrong", "Basic "), ("wrong_username", "Basic "), ("scheme", "Bearer "), ("none", None)],
)
async def test_modes_without_valid_basic_credentials_end_in_401(
    bot: Bot, client: httpx.AsyncClient, mode: str, authorization_prefix: str | None
) -> None:
    """Wrong password/username, another scheme or no credentials: one request, 401, rejected."""
    auth = WebhookAuth(mode=mode, username=USER, password=PASSWORD)  # type: ignore[arg-type]
    exchange = await send_webhook(client, bot.url("/basic"), _initiate(), auth=auth)
    assert len(bot.seen) == 1
    sent = bot.seen[0].headers.get("authorization")
    if authorization_prefix is None:
        assert sent is None
    else:
        assert sent is not None
        assert sent.startswith(authorization_prefix)
    assert exchange.final_status == 401
    assert exchange.outcome == "rejected"
    assert exchange.call_would_end_with == "callback-error"


async def test_401_without_www_authenticate_loses_the_callback(
    bot: Bot, client: httpx.AsyncClient
) -> None:
    """A 401 with no WWW-Authenticate is not retried: lost-no-challenge, naming RFC 7235."""
    exchange = await send_webhook(
        client,
        bot.url("/no-challenge"),
        _initiate(),
        auth=WebhookAuth(username=USER, password=PASSWORD),
    )
    assert len(bot.seen) == 1
    assert "authorization" not in bot.seen[0].headers
    assert exchange.outcome == "lost-no-challenge"
    assert exchange.rule_broken is not None
    assert "RFC 7235" in exchange.rule_broken
    assert exchange.error is not None
    assert "WWW-Authenticate" in exchange.error
    assert exchange.call_would_end_with == "callback-error"


async def test_bot_that_does_not_answer_in_time_is_a_timeout(
    bot: Bot, client: httpx.AsyncClient
) -> None:
    """A bot slower than timeout_s gives outcome timeout, after that wait, without raising."""
    exchange = await send_webhook(
        client, bot.url("/slow"), _initiate(), auth=WebhookAuth(), timeout_s=0.3
    )
    assert exchange.outcome == "timeout"
    assert exchange.final_status is None
    assert exchange.attempts[0].elapsed_ms >= 300
    assert exchange.error is not None
    assert "0.3 s" in exchange.error
    assert exchange.call_would_end_with == "callback-error"


async def test_timeout_bounds_the_whole_answer_not_each_read(
    bot: Bot, client: httpx.AsyncClient
) -> None:
    """A bot that drips its answer byte by byte still times out after timeout_s in total."""
    exchange = await send_webhook(
        client, bot.url("/drip"), _initiate(), auth=WebhookAuth(), timeout_s=1.0
    )
    assert exchange.outcome == "timeout"
    assert exchange.attempts[0].status == 200
    assert exchange.bxml_text is None


async def test_bot_that_fails_is_a_server_error(bot: Bot, client: httpx.AsyncClient) -> None:
    """A 500 answer gives outcome server-error, with the bot's answer quoted in the error."""
    exchange = await send_webhook(client, bot.url("/error"), _initiate(), auth=WebhookAuth())
    assert exchange.outcome == "server-error"
    assert exchange.final_status == 500
    assert exchange.error is not None
    assert "KeyError" in exchange.error
    assert exchange.attempts[0].response_body == "Traceback: KeyError 'callId'"


async def test_refused_connection_is_an_outcome(client: httpx.AsyncClient) -> None:
    """Nothing listening on the port gives outcome connection-error instead of raising."""
    with socket.socket() as holder:  # bound but not listening: connections are refused
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        exchange = await send_webhook(
            client, f"http://127.0.0.1:{port}/", _initiate(), auth=WebhookAuth(), timeout_s=2
        )
    assert exchange.outcome == "connection-error"
    assert exchange.final_status is None
    assert exchange.error is not None
    assert "running" in exchange.error


async def test_get_puts_the_fields_in_the_query(bot: Bot, client: httpx.AsyncClient) -> None:
    """GET sends every field as a query parameter and no body, as Bandwidth's …Method=GET."""
    body = _initiate()
    exchange = await send_webhook(
        client,
        bot.url("/basic"),
        body,
        auth=WebhookAuth(mode="preemptive", username=USER, password=PASSWORD),
        method="GET",
    )
    assert exchange.outcome == "answered"
    (seen,) = bot.seen
    assert seen.method == "GET"
    assert seen.body == b""
    assert seen.query == {k: str(v) for k, v in body.items()}


async def test_post_sends_json_and_signature_extension(bot: Bot, client: httpx.AsyncClient) -> None:
    """POST carries the JSON body; the opt-in extension header is the HMAC of those bytes."""
    body = _initiate()
    await send_webhook(
        client,
        bot.url("/basic"),
        body,
        auth=WebhookAuth(mode="preemptive", username=USER, password=PASSWORD),
        signing_secret=SECRET,
    )
    (seen,) = bot.seen
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == body
    expected = hmac.new(SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    assert seen.headers[EXTENSION_SIGNATURE_HEADER] == expected


async def test_raw_bytes_reach_the_bot_unchanged(bot: Bot, client: httpx.AsyncClient) -> None:
    """A malformed raw body is delivered byte for byte with Content-Type application/json."""
    raw = b'{"eventType":"initiate","callId":'
    exchange = await send_webhook(
        client,
        bot.url("/basic"),
        raw,
        auth=WebhookAuth(mode="preemptive", username=USER, password=PASSWORD),
    )
    (seen,) = bot.seen
    assert seen.body == raw
    assert seen.headers["content-type"] == "application/json"
    assert exchange.event_type is None


async def test_async_webhook_accepts_204_without_bxml(bot: Bot, client: httpx.AsyncClient) -> None:
    """A disconnect answered 204 is delivered; no content type is required of async webhooks."""
    info = CallInfo.new_inbound("+15551230000", "+15559870000", start_time=T0)
    exchange = await send_webhook(
        client, bot.url("/status"), disconnect_body(info, "hangup", T0), auth=WebhookAuth()
    )
    assert exchange.outcome == "answered"
    assert exchange.sync is False
    assert exchange.content_type_ok is None
    assert exchange.error is None
    assert exchange.call_would_end_with is None
