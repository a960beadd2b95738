"""The fake OAuth and Voice API for this process's own httpx requests, through respx.

For unit tests of a bot's tool functions (``transfer_to_human``, ``end_call``) that call
``https://voice.bandwidth.com/...`` with httpx: :class:`FakeVoiceApi` patches httpx (with
respx) so that requests for Bandwidth's hosts are answered by the same
:class:`~simulator.rest.voice_api.VoiceApiApp` bwsim serves over HTTP, with a
:class:`~simulator.rest.fake.FakeBandwidth` of its own: the same journal, faults, tokens
and call states, and no server, no socket, no call. Requests to loopback go through as
usual; a request for any other host fails with :class:`UnroutedHost`, which names it.

The app runs on an event loop of its own, on a thread of its own, so one
``FakeVoiceApi`` answers sync and async httpx clients alike, whether or not the test
runs an event loop; the calling thread waits for the answer (a fault's ``delay_ms``
therefore blocks it for that long).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

import httpx
import respx
from respx.models import AllMockedAssertionError

from simulator.protocol.ids import new_stream_id
from simulator.rest.fake import FakeBandwidth
from simulator.rest.faults import FaultInjector
from simulator.rest.intercept import is_loopback_host
from simulator.rest.journal import Journal, Violation
from simulator.rest.registry import Account, Call, Registry
from simulator.rest.voice_api import VoiceApiApp, _DropConnection

__all__ = ["BANDWIDTH_HOSTS", "FakeVoiceApi", "UnroutedHost"]

BANDWIDTH_HOSTS = ("api.bandwidth.com", "voice.bandwidth.com")
"""The hosts answered by the fake: OAuth on ``api``, the Voice API on ``voice``."""

_ANSWER_TIMEOUT_S = 60.0
"""How long a request may wait for the fake's answer (a fault's delay included)."""


class UnroutedHost(AllMockedAssertionError):
    """A request for a host that is neither Bandwidth's nor loopback, under the fake."""

    def __init__(self, request: httpx.Request) -> None:
        self.host = request.url.host
        super().__init__(
            f"bwsim_voice_api: {request.method} {request.url} goes to host {self.host!r}, "
            f"which is not Bandwidth's: only {' and '.join(BANDWIDTH_HOSTS)} are answered "
            "(by the fake) and loopback goes through. Mock that host yourself (respx's "
            "respx_mock fixture), or keep the code under test from calling it."
        )


class _Router(respx.MockRouter):
    """A respx router whose miss names the host and says what to do."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handler(request)
        except UnroutedHost:
            raise
        except AllMockedAssertionError:
            raise UnroutedHost(request) from None

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().async_handler(request)
        except UnroutedHost:
            raise
        except AllMockedAssertionError:
            raise UnroutedHost(request) from None


class FakeVoiceApi:
    """Bandwidth's OAuth and Voice API answering this process's httpx requests (respx).

    Use it as a context manager (the ``bwsim_voice_api`` pytest fixture does). Calls the
    code under test acts on are made with :meth:`live_call` and :meth:`ended_call`, in
    the fake's default :attr:`account`, whose client credentials :meth:`token` (or the
    code under test, through ``POST https://api.bandwidth.com/api/v1/oauth2/token``)
    turns into a Bearer token.
    """

    def __init__(self, fake: FakeBandwidth | None = None) -> None:
        self.fake = fake if fake is not None else FakeBandwidth()
        self.app = VoiceApiApp(self.fake)
        self.router: respx.MockRouter = _Router(assert_all_called=False, assert_all_mocked=True)
        for host in BANDWIDTH_HOSTS:
            self.router.route(host=host).mock(side_effect=self._answer)
        self.router.route().mock(side_effect=_loopback_passes)
        # VoiceApiApp types the ASGI scope as a dict; httpx declares a MutableMapping.
        self._transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._reported = 0

    # -- the fake's state ---------------------------------------------------------------

    @property
    def account(self) -> Account:
        """The account calls are made in; its ``client_id``/``client_secret`` get tokens."""
        return self.fake.default_account

    @property
    def registry(self) -> Registry:
        """Every call the fake knows about."""
        return self.fake.registry

    @property
    def journal(self) -> Journal:
        """Every request the fake answered (``journal.find(route="update_bxml")``…)."""
        return self.fake.journal

    @property
    def faults(self) -> FaultInjector:
        """Fault rules for the fake's routes (see :class:`~simulator.rest.faults.FaultRule`)."""
        return self.fake.faults

    def token(self) -> str:
        """A Bearer token for :attr:`account`, issued without a request."""
        return self.fake.issue_token(self.account).token

    def live_call(self, *, from_: str = "+15555550100", to: str = "+15555550199") -> Call:
        """A call in progress: answered, its media stream open; the Voice API may modify it."""
        call = self.registry.create_call(self.account.account_id, from_=from_, to=to)
        self.registry.answer(call.call_id)
        self.registry.stream_started(call.call_id, new_stream_id())
        return call

    def ended_call(self, cause: str = "hangup") -> Call:
        """A call that was answered and has ended with ``cause``: the Voice API answers 404.

        (409 instead when ``fake.settings.ended_call_status`` says so.)
        """
        call = self.live_call()
        self.registry.end(call.call_id, cause)
        return call

    def take_violations(self) -> list[Violation]:
        """The violations recorded since the last call (the pytest plugin fails on them)."""
        violations = list(self.journal.violations)
        new, self._reported = violations[self._reported :], len(violations)
        return new

    # -- patching httpx -----------------------------------------------------------------

    def start(self) -> Self:
        """Start the fake's event loop and patch httpx."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="bwsim-voice-api", daemon=True
        )
        self._thread.start()
        self.router.start()
        return self

    def stop(self) -> None:
        """Unpatch httpx and stop the fake's event loop."""
        self.router.stop()
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _answer(self, request: httpx.Request) -> httpx.Response:
        """Serve one request with the Voice API app on the fake's loop; wait for it."""
        if self._loop is None:
            raise RuntimeError("FakeVoiceApi is not started: use it as a context manager")
        future = asyncio.run_coroutine_threadsafe(self._serve(request), self._loop)
        return future.result(_ANSWER_TIMEOUT_S)

    async def _serve(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._transport.handle_async_request(request)
            body = await response.aread()
        except _DropConnection:
            # A fault dropped the connection after the response head, as uvicorn would.
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )


def _loopback_passes(request: httpx.Request) -> httpx.Request | None:
    """Loopback requests go through untouched; anything else is not matched (→ refused)."""
    return request if is_loopback_host(request.url.host) else None
