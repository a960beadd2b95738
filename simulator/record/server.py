"""The capture proxy served by a real uvicorn, for the CLI, the tests and the benchmark.

The listening socket is bound before uvicorn starts (:func:`bind_socket`), so a port in
use is a clear error at once rather than uvicorn's exit. When the recorder stops, every
call still open is written as it stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import uvicorn

from simulator.call.tasks import reap
from simulator.errors import ConfigError
from simulator.record.capture import CallCapture, Captures
from simulator.record.proxy import RecordApp
from simulator.runner.servers import ReadyServer, wait_started

__all__ = ["Recorder", "bind_socket"]

STARTUP_TIMEOUT_S = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: any free port), or a ConfigError."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address this machine has ({exc})") from None
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port "
            "(or stop what uses it)"
        ) from None
    sock.setblocking(False)
    return sock


class Recorder:
    """Run the capture proxy for the duration of an ``async with``; ``url`` is where it listens."""

    def __init__(
        self,
        bot_url: str,
        archive_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        redact_ids: bool = False,
        on_written: Callable[[CallCapture], None] | None = None,
        sock: socket.socket | None = None,
        voice_api: str | None = None,
        oauth_url: str | None = None,
    ) -> None:
        self.captures = Captures(archive_dir, redact_ids=redact_ids, on_written=on_written)
        self.app = RecordApp(
            bot_url, self.captures, public_url=public_url, voice_api=voice_api, oauth_url=oauth_url
        )
        self.host = host
        self._sock = sock or bind_socket(host, port)
        self.port = int(self._sock.getsockname()[1])
        self._server: ReadyServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the recorder."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def written(self) -> list[Path]:
        """The folders of the calls written so far, in the order they were announced."""
        return self.captures.written

    async def __aenter__(self) -> Recorder:
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            access_log=False,
        )
        self._server = ReadyServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        await wait_started(self._server, self._task, STARTUP_TIMEOUT_S, "bwsim record")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop listening, finish pending saves, and write every call still open."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                async with asyncio.timeout(5.0):
                    await asyncio.shield(self._task)
            except (TimeoutError, asyncio.CancelledError):
                self._server.force_exit = True
                await reap(self._task)
            self._server = None
        with contextlib.suppress(Exception):
            await self.app.aclose()
        self.captures.save_all()
        self._sock.close()
