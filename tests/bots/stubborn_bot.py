"""A bot that will not go: its webhook handler never returns and it ignores SIGTERM.

For the tests that bwsim leaves no bot behind. At start-up (the ASGI lifespan, after
uvicorn has installed its own signal handlers) it ignores SIGTERM and writes its process
id and process group id, ``PID PGID``, to ``stubborn-bot.pid`` in its working folder;
when a webhook arrives it writes ``stubborn-bot.webhook`` there and never answers. Serve it
with ``--app tests.bots.stubborn_bot:app``, or run ``python -m tests.bots.stubborn_bot``
(uvicorn on ``$PORT``). The files go to the working folder rather than to a folder named
in a variable so that they do not depend on which variables bwsim passes to bots.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

PID_FILE = "stubborn-bot.pid"
WEBHOOK_FILE = "stubborn-bot.webhook"


def _write(name: str, text: str) -> None:
    """Write ``text`` to ``name`` in the working folder at once (a reader never sees half)."""
    tmp = Path(f".{name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(name)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI app: lifespan start-up as described above; every HTTP request hangs."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                _write(PID_FILE, f"{os.getpid()} {os.getpgrp()}\n")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        _write(WEBHOOK_FILE, f"{os.getpid()}\n")
        await asyncio.Event().wait()  # never answers


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
