"""Every client library a bot may use is routed or refused, under uvloop and the stdlib loop.

The bot (``tests/bots/client_bot.py``) is a child process bwsim starts with ``--cmd``,
serving with uvicorn on the loop named (uvloop, uvicorn's default when installed, or
asyncio's own). Asked through ``POST /probe``, it reaches a URL with one client library:
Bandwidth's own ``bandwidth-sdk`` and ``requests`` (both urllib3 underneath), urllib3
itself, httpx, aiohttp, websockets, or a raw ``asyncio.open_connection``. A Bandwidth
URL must land on the fake (its journal shows it); any other host must fail in the bot
with that library's own connection error naming the host, and be reported.

``--allow-host`` is shown with a second loopback server standing in for a speech
provider. It must be reached by a name that is not loopback, or the allow list would not
be what lets it through (loopback always passes). The test maps the names
``provider.test`` and ``other.test`` to 127.0.0.1 with the interceptor's test-only
``$BWSIM_INTERCEPT_RESOLVE``, rather than a resolver inside the test bot: the map is
applied where the hooks resolve names (``socket.getaddrinfo``, the loops'
``getaddrinfo`` and ``create_connection``), so every client library goes through the
same allow decision a real provider's name does, and the bot stays an ordinary bot.
Both names point at the same server: only the allow list tells them apart.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.rest.intercept import RESOLVE_ENV_VAR
from simulator.runner.background import BackgroundHarness
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import CmdTarget

pytestmark = pytest.mark.timeout(120)
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

LOOPS = {
    "uvloop": "uvloop.Loop",
    "asyncio": "asyncio.unix_events._UnixSelectorEventLoop",
}
CLIENTS = ["bandwidth-sdk", "requests", "urllib3", "httpx", "aiohttp", "websockets", "asyncio"]
ERROR_FAMILY = {
    # The error each library's users already catch for a failed connection.
    "bandwidth-sdk": "NewConnectionError",
    "requests": "RequestException",
    "urllib3": "NewConnectionError",
    "httpx": "ConnectError",
    "aiohttp": "ClientConnectionError",
    "websockets": "OSError",
    "asyncio": "OSError",
}
PROVIDER = "provider.test"
OTHER = "other.test"


def start_bot(loop: str, **kwargs: Any) -> BackgroundHarness:
    """The client bot on ``loop``, started by bwsim with ``--cmd``."""
    target = CmdTarget(f"{sys.executable} -m tests.bots.client_bot --loop {loop}")
    return BackgroundHarness(target, **kwargs).start()


def probe(bot: BackgroundHarness, client: str, url: str) -> dict[str, Any]:
    """Ask the bot to reach ``url`` with ``client``; its answer."""
    running = bot.harness.bot
    assert running is not None
    response = httpx.post(
        running.base_url + "/probe", json={"client": client, "url": url}, timeout=60
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def error_names(answer: dict[str, Any]) -> set[str]:
    """Every class name in the chain of errors the bot saw."""
    return {name for chain in answer.get("errors", []) for name in chain}


def run_on(bot: BackgroundHarness, work: Callable[[Harness], Any]) -> Any:
    """Run ``work(harness)`` on the harness's own loop (its state lives there)."""

    async def go(h: Harness) -> Any:
        return work(h)

    def factory(h: Harness) -> Awaitable[Any]:
        return go(h)

    return bot.run(factory, 30)


@pytest.fixture(scope="module", params=list(LOOPS))
def bot(request: pytest.FixtureRequest) -> Iterator[tuple[str, BackgroundHarness]]:
    """One client bot per loop, with no host allowed."""
    loop = str(request.param)
    running = start_bot(loop)
    try:
        yield loop, running
    finally:
        running.stop()


@pytest.mark.parametrize("client", CLIENTS)
def test_bandwidth_request_reaches_the_fake(
    bot: tuple[str, BackgroundHarness], client: str
) -> None:
    """A request to voice.bandwidth.com through each client lands on the fake, on each loop."""
    loop, running = bot
    acc = running.harness.fake.default_account
    call = run_on(running, lambda h: h.fake.registry.create_call(acc.account_id))
    path = f"/api/v2/accounts/{acc.account_id}/calls/{call.call_id}"
    seen = probe(running, client, "https://voice.bandwidth.com" + path)
    assert seen["loop"] == LOOPS[loop]
    assert seen["ok"], seen
    journal = running.harness.fake.journal
    reached = [e for e in journal.entries if e.path == path]
    assert reached, f"{client} on {loop}: nothing reached the fake"
    if client == "bandwidth-sdk":
        # The SDK's own OAuth and Voice API calls, both answered by the fake.
        assert seen["status"] == 200
        assert reached[-1].route == "get_call"
        assert reached[-1].status == 200
        assert reached[-1].headers.get("host") == "voice.bandwidth.com"
    elif client == "websockets":
        assert seen["status"] == 403  # the fake refuses a websocket: Bandwidth has none
    else:
        assert seen["status"] == 401  # the fake wants a Bearer token, as Bandwidth does
    assert running.harness.collect_child_violations() == []


@pytest.mark.parametrize("client", CLIENTS)
def test_other_hosts_are_refused_and_reported(
    bot: tuple[str, BackgroundHarness], client: str
) -> None:
    """Any other host fails in the bot with its library's error naming it, and is reported."""
    loop, running = bot
    running.harness.collect_child_violations()
    seen = probe(running, client, "https://example.org/v1/secret")
    assert seen["loop"] == LOOPS[loop]
    assert not seen["ok"], seen
    names = error_names(seen)
    assert "BlockedRequestError" in names, seen
    assert ERROR_FAMILY[client] in names, seen
    assert "example.org" in seen["message"]
    found = running.harness.collect_child_violations()
    assert found, f"{client} on {loop}: the refusal was not reported"
    assert {v.evidence["host"] for v in found} == {"example.org"}


@dataclass
class Provider:
    """A loopback server standing in for a speech provider: records what reaches it."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)
    port: int = 0

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["type"], scope["path"], headers.get("host", "")))
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """The provider stand-in, served by uvicorn on its own loop in a thread."""
    app = Provider()
    ready = threading.Event()
    stop: list[Callable[[], object]] = []

    async def main() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        async with serve(app) as server:
            app.port = server.port
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            ready.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the provider stand-in did not start"
    try:
        yield app
    finally:
        stop[0]()
        thread.join(30)


@pytest.fixture(scope="module", params=list(LOOPS))
def allowing_bot(request: pytest.FixtureRequest) -> Iterator[tuple[str, BackgroundHarness]]:
    """One client bot per loop, allowed to reach provider.test (both names mapped)."""
    loop = str(request.param)
    resolve = json.dumps({PROVIDER: "127.0.0.1", OTHER: "127.0.0.1"})
    running = start_bot(loop, bot_env={RESOLVE_ENV_VAR: resolve}, allow_hosts=[PROVIDER])
    try:
        yield loop, running
    finally:
        running.stop()


PLAIN_CLIENTS = [c for c in CLIENTS if c != "bandwidth-sdk"]  # the SDK only talks to Bandwidth


@pytest.mark.parametrize("client", PLAIN_CLIENTS)
def test_allowed_host_is_reached(
    allowing_bot: tuple[str, BackgroundHarness], provider: Provider, client: str
) -> None:
    """With --allow-host provider.test, each client reaches the provider, nothing reported."""
    loop, running = allowing_bot
    running.harness.collect_child_violations()
    path = f"/v1/listen/{client}/{loop}"
    seen = probe(running, client, f"http://{PROVIDER}:{provider.port}{path}")
    assert seen["ok"], seen
    assert seen["status"] == (101 if client == "websockets" else 200)
    assert [p for _, p, _ in provider.seen].count(path) == 1
    assert running.harness.collect_child_violations() == []


@pytest.mark.parametrize("client", PLAIN_CLIENTS)
def test_hosts_not_allowed_stay_refused(
    allowing_bot: tuple[str, BackgroundHarness], provider: Provider, client: str
) -> None:
    """With --allow-host provider.test, other.test (the same server) stays refused."""
    loop, running = allowing_bot
    running.harness.collect_child_violations()
    path = f"/v1/other/{client}/{loop}"
    seen = probe(running, client, f"http://{OTHER}:{provider.port}{path}")
    assert not seen["ok"], seen
    assert "BlockedRequestError" in error_names(seen)
    assert path not in [p for _, p, _ in provider.seen]
    found = running.harness.collect_child_violations()
    assert {v.evidence["host"] for v in found} == {OTHER}


def test_allowed_hosts_do_not_unfake_bandwidth(
    allowing_bot: tuple[str, BackgroundHarness],
) -> None:
    """A bot allowed to reach a provider still has its Bandwidth requests routed to the fake."""
    _, running = allowing_bot
    before = len(running.harness.fake.journal.entries)
    seen = probe(running, "requests", "https://api.bandwidth.com/api/v1/oauth2/token")
    assert seen["ok"], seen
    paths = [e.path for e in running.harness.fake.journal.entries[before:]]
    assert "/api/v1/oauth2/token" in paths


PLUGIN_CONFTEST = f"""
import json
import sys
from pathlib import Path

import pytest

from simulator.rest.intercept import RESOLVE_ENV_VAR
from simulator.runner.targets import CmdTarget


@pytest.fixture(scope="session")
def bwsim_target():
    command = f"{sys.executable} -m tests.bots.client_bot --loop asyncio"
    return CmdTarget(command, cwd=Path({str(ROOT)!r}))


@pytest.fixture(scope="session")
def bwsim_bot_env():
    names = {{"{PROVIDER}": "127.0.0.1", "{OTHER}": "127.0.0.1"}}
    return {{RESOLVE_ENV_VAR: json.dumps(names)}}
"""

PLUGIN_SUITE = f"""
import os

import httpx


def probe(simulator, host):
    url = f"http://{{host}}:{{os.environ['PROVIDER_PORT']}}/v1/plugin/{{host}}"
    answer = httpx.post(
        simulator.harness.bot.base_url + "/probe", json={{"client": "httpx", "url": url}}
    )
    return answer.json()


def test_the_allowed_host_is_reached(bwsim_simulator):
    assert probe(bwsim_simulator, "{PROVIDER}")["ok"]


def test_another_host_is_refused(bwsim_simulator):
    assert "BlockedRequestError" in str(probe(bwsim_simulator, "{OTHER}")["errors"])
"""


def test_plugin_option_allows_the_named_host(
    pytester: pytest.Pytester, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--bwsim-allow-host`` reaches the bot the plugin starts: that host only gets through."""
    monkeypatch.setenv("PROVIDER_PORT", str(provider.port))
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_allowed=PLUGIN_SUITE)
    outcome = pytester.runpytest_subprocess("--bwsim-allow-host", PROVIDER, "-p", "no:xdist")
    outcome.assert_outcomes(passed=2)
    assert "/v1/plugin/" + PROVIDER in [p for _, p, _ in provider.seen]
    assert "/v1/plugin/" + OTHER not in [p for _, p, _ in provider.seen]


def test_plugin_refuses_a_bad_allow_host(pytester: pytest.Pytester) -> None:
    """A URL given to ``--bwsim-allow-host`` stops the session at once with a usage error."""
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    outcome = pytester.runpytest_subprocess("--bwsim-allow-host", "https://api.deepgram.com/v1")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(["*--bwsim-allow-host*expected a host name*"])


@pytest.mark.parametrize("client", ["requests", "httpx"])
async def test_bandwidth_is_routed_past_a_proxy_setting(client: str) -> None:
    """With HTTPS_PROXY set (as on some CI runners), Bandwidth requests still reach the fake."""
    target = CmdTarget(f"{sys.executable} -m tests.bots.client_bot --loop asyncio")
    proxy = {"HTTPS_PROXY": "http://proxy.invalid:3128", "https_proxy": "http://proxy.invalid:3128"}
    async with Harness(target, bot_env=proxy) as h:
        assert h.bot is not None
        url = "https://api.bandwidth.com/api/v1/oauth2/token"
        async with httpx.AsyncClient(timeout=60) as c:
            r = await c.post(h.bot.base_url + "/probe", json={"client": client, "url": url})
        seen = r.json()
        assert seen["ok"], seen
        assert [e.path for e in h.fake.journal.entries] == ["/api/v1/oauth2/token"]
        assert h.collect_child_violations() == []
