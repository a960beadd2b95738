"""Shared fixtures: the fake Bandwidth served by a real uvicorn on loopback.

``MS`` is the one time unit for test waits; scale it with ``BWSIM_TEST_TIME_SCALE`` on a
slow machine. Tests never sleep to synchronise: they wait on an
event or a condition, with a timeout expressed in ``MS``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar, TypeVarTuple

import httpx
import pytest
from hypothesis import HealthCheck, settings

from simulator.rest.fake import FakeBandwidth
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.servers import RunningServer, serve

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MS = 0.001 * float(os.environ.get("BWSIM_TEST_TIME_SCALE", "1"))

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


class ThreadedFake:
    """A FakeBandwidth whose Voice API runs in its own thread and event loop."""

    def __init__(self) -> None:
        self.fake = FakeBandwidth()
        self.app = VoiceApiApp(self.fake)
        self.server: RunningServer | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-bandwidth")
        self._error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                async with serve(self.app) as server:
                    self.server = server
                    self._ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # surfaced to the test by start()
                self._error = exc
                self._ready.set()

        asyncio.run(main())

    def start(self) -> ThreadedFake:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake Voice API did not start within 10 s")
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run ``fn`` on the server's loop thread (the registry is not thread-safe)."""
        assert self._loop is not None
        done = threading.Event()
        box: list[T | BaseException] = []

        def run() -> None:
            try:
                box.append(fn(*args))
            except BaseException as exc:
                box.append(exc)
            done.set()

        self._loop.call_soon_threadsafe(run)
        if not done.wait(5):
            raise TimeoutError("the fake's loop did not run the call within 5 s")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="session")
def threaded_fake() -> Iterator[ThreadedFake]:
    """One fake Bandwidth for the whole session, served on loopback from a thread."""
    fake = ThreadedFake().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_api(threaded_fake: ThreadedFake) -> ThreadedFake:
    """The session's fake, reset for this test."""
    threaded_fake.call(threaded_fake.fake.reset)
    return threaded_fake


@pytest.fixture
def api_client(fake_api: ThreadedFake) -> Iterator[httpx.Client]:
    """A plain httpx client pointed at the fake Voice API."""
    assert fake_api.server is not None
    with httpx.Client(base_url=fake_api.server.base_url, timeout=5) as client:
        yield client


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup`` deals one test at a time, bar whole modules (tests/xdist_scopes.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_scopes import OneTestOrWholeModule

    return OneTestOrWholeModule(config, log)
