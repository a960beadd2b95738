"""Hard-coded Bandwidth URLs reach the fake; every other outside host is refused.

The interception must work with bots nobody changed: in the harness's own process
(``intercept_in_process``) and in child processes bwsim starts (``--app`` and
``--cmd``), for httpx and for aiohttp.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import pytest
import uvloop

from simulator.errors import BlockedRequestError
from simulator.rest.intercept import Interceptor, is_loopback_host
from simulator.runner.harness import Harness


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("bot.bwsim.localhost", True),
        ("0.0.0.0", True),
        ("10.0.0.1", False),
        ("api.bandwidth.com", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_detection(host: str, expected: bool) -> None:
    """Only loopback names and addresses count as loopback."""
    assert is_loopback_host(host) is expected


async def test_httpx_request_to_bandwidth_reaches_fake() -> None:
    """An httpx POST to https://api.bandwidth.com lands on the fake's token endpoint."""
    async with Harness(intercept_in_process=True) as h:
        acc = h.fake.default_account
        async with httpx.AsyncClient() as client:
            r = await client.post(
                "https://api.bandwidth.com/api/v1/oauth2/token",
                auth=(acc.client_id, acc.client_secret),
                data={"grant_type": "client_credentials"},
            )
        assert r.status_code == 200
        entry = h.fake.journal.find(route="token")[0]
        assert entry.headers["x-bwsim-original-host"] == "api.bandwidth.com"


async def test_aiohttp_request_to_bandwidth_reaches_fake() -> None:
    """An aiohttp POST to https://voice.bandwidth.com lands on the fake Voice API."""
    async with Harness(intercept_in_process=True) as h:
        acc = h.fake.default_account
        call = h.fake.registry.create_call(acc.account_id)
        async with aiohttp.ClientSession() as s:
            url = (
                f"https://voice.bandwidth.com/api/v2/accounts/{acc.account_id}/calls/{call.call_id}"
            )
            async with s.get(url) as r:
                assert r.status == 401  # reached the fake: it wants a Bearer
        assert h.fake.journal.find(route="get_call")[0].call_id == call.call_id


async def test_other_hosts_are_refused_and_reported_httpx() -> None:
    """Httpx to any other outside host fails at once, naming the host, and is a violation."""
    async with Harness(intercept_in_process=True) as h:
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError, match=r"example\.org") as info:
                await client.get("https://example.org/secret")
        assert isinstance(info.value, BlockedRequestError)
        assert [v.kind for v in h.fake.journal.violations] == ["blocked-request"]
        with pytest.raises(AssertionError, match=r"example\.org"):
            h.fake.journal.raise_violations()


async def test_other_hosts_are_refused_and_reported_aiohttp() -> None:
    """Aiohttp to any other outside host fails at once with a ClientError naming the host."""
    async with Harness(intercept_in_process=True) as h:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.ClientConnectionError, match=r"api\.openai\.com"):
                await s.get("https://api.openai.com/v1/models")
        assert h.fake.journal.violations[0].evidence["host"] == "api.openai.com"


async def test_raw_socket_to_outside_is_refused() -> None:
    """A client library bwsim does not know still cannot resolve or connect outside."""
    async with Harness(intercept_in_process=True) as h:
        with pytest.raises(socket.gaierror, match="bwsim blocked"):
            socket.getaddrinfo("example.net", 443)
        s = socket.socket()
        try:
            with pytest.raises(BlockedRequestError):
                s.connect(("93.184.216.34", 80))
        finally:
            s.close()
        assert len(h.fake.journal.violations) == 2


def test_interceptor_uninstalls_cleanly() -> None:
    """After uninstall the original functions are back in place."""
    before = (httpx.AsyncHTTPTransport.handle_async_request, socket.getaddrinfo)
    with Interceptor("http://127.0.0.1:9"):
        assert socket.getaddrinfo is not before[1]
    assert (httpx.AsyncHTTPTransport.handle_async_request, socket.getaddrinfo) == before


def test_interceptor_refuses_non_loopback_api_base() -> None:
    """The fake must be on loopback: any other base URL is refused."""
    with pytest.raises(ValueError, match="loopback"):
        Interceptor("http://10.1.2.3:80")


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_loop_level_lookups_and_connections_are_refused(loop_name: str) -> None:
    """The loop's getaddrinfo, sock_connect and datagram endpoints refuse outside hosts.

    uvloop resolves and connects in C, past the socket hooks: without its own hooks these
    would go out. Names under .invalid and TEST-NET addresses never route anywhere.
    """
    blocked: list[str] = []

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        refused: list[str] = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        attempts: dict[str, Callable[[], Awaitable[object]]] = {
            "getaddrinfo": lambda: loop.getaddrinfo("lookup.invalid", 443),
            "sock_connect": lambda: loop.sock_connect(sock, ("192.0.2.1", 80)),
            "datagram": lambda: loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=("192.0.2.2", 53)
            ),
            "open_connection": lambda: asyncio.open_connection("connect.invalid", 443),
        }
        try:
            for what, attempt in attempts.items():
                with pytest.raises(OSError, match="bwsim blocked"):
                    await attempt()
                refused.append(what)
        finally:
            sock.close()
        return refused

    with Interceptor("http://127.0.0.1:9", on_blocked=lambda host, url: blocked.append(host)):
        run = uvloop.run if loop_name == "uvloop" else asyncio.run
        refused = run(main())
    assert refused == ["getaddrinfo", "sock_connect", "datagram", "open_connection"]
    assert blocked == ["lookup.invalid", "192.0.2.1", "192.0.2.2", "connect.invalid"]
