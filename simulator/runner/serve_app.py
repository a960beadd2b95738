"""Child-process entry point for ``--app MODULE:ATTR``: serve the app, report the port.

Run as ``python -m simulator.runner.serve_app MODULE:ATTR``. It binds 127.0.0.1 port 0 and
writes the bound port, one line, to the file descriptor in ``$BWSIM_READY_FD``, which
the harness reads; SIGTERM stops uvicorn gracefully.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys

import uvicorn

from simulator.runner.servers import ReadyServer, wait_started

__all__ = ["main"]


def _load(spec: str) -> object:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(
            f"bwsim: cannot import {module_name!r} for --app {spec}: {exc}. "
            "Run bwsim from the folder that contains the module, or install it."
        ) from exc
    app = module
    for part in attr.split("."):
        if not hasattr(app, part):
            raise SystemExit(f"bwsim: module {module_name!r} has no attribute {attr!r}")
        app = getattr(app, part)
    return app


class _Server(ReadyServer):
    """Unlike the harness's servers, the child keeps uvicorn's SIGTERM handling."""

    capture_signals = uvicorn.Server.capture_signals  # stop gracefully on SIGTERM/SIGINT


async def _serve(app: object, ready_fd: int | None) -> None:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        log_level=os.environ.get("BWSIM_BOT_LOG_LEVEL", "warning"),
        access_log=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    port = await wait_started(server, task, 60.0, "the app")
    if ready_fd is not None:
        os.write(ready_fd, f"{port}\n".encode())
        os.close(ready_fd)
    await task


def main(argv: list[str] | None = None) -> None:
    """Serve ``MODULE:ATTR`` from the command line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        raise SystemExit("usage: python -m simulator.runner.serve_app MODULE:ATTR")
    app = _load(args[0])
    fd = os.environ.get("BWSIM_READY_FD")
    asyncio.run(_serve(app, int(fd) if fd else None))


if __name__ == "__main__":
    main()
