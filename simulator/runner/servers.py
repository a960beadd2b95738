"""Serve an ASGI app with a real uvicorn on a loopback port the OS picks.

The port is bound as 0 and read back from the listening socket (no racy "find a free
port" step), and readiness is an event set when uvicorn has started, awaited with a
timeout: nothing sleeps
and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from simulator.call.tasks import reap
from simulator.errors import TargetError

__all__ = ["ReadyServer", "RunningServer", "serve", "wait_started"]


class ReadyServer(uvicorn.Server):
    """A uvicorn server that sets an event once it listens, and leaves signals alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[Any] | None = None) -> None:
        """Start listening, then announce it."""
        await super().startup(sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone: the harness (a test runner, the bwsim CLI) owns them."""
        yield


async def wait_started(
    server: ReadyServer, task: asyncio.Task[None], timeout_s: float, what: str
) -> int:
    """Wait until ``server`` listens (or its task ends); return the bound port."""
    ready = asyncio.ensure_future(server.ready.wait())
    done, _ = await asyncio.wait(
        {task, ready}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    if ready not in done:
        ready.cancel()
        if task.done():
            exc = None if task.cancelled() else task.exception()
            raise TargetError(f"uvicorn failed to start {what}: {exc or 'it exited at once'}")
        task.cancel()
        raise TargetError(f"uvicorn did not start {what} within {timeout_s} s")
    sockets = server.servers[0].sockets if server.servers else ()
    if not sockets:
        raise TargetError(
            f"uvicorn started {what} but has no listening socket (it was stopped meanwhile)"
        )
    return int(sockets[0].getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    """Where a served app listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_s: float = 10.0,
    log_level: str = "warning",
    ws: str = "websockets-sansio",
) -> AsyncIterator[RunningServer]:
    """Run ``app`` under uvicorn in the current event loop for the duration of the block."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="auto",
        ws=ws,
        access_log=False,
    )
    server = ReadyServer(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn-{host}")
    bound_port = await wait_started(server, task, startup_timeout_s, f"on {host}")
    try:
        yield RunningServer(host=host, port=bound_port)
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(5.0):
                await task
        except TimeoutError:
            logging.getLogger(__name__).warning("uvicorn on %s did not stop in 5 s", host)
            server.force_exit = True
            await reap(task)
