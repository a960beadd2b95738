"""A bot that only writes down the names of the variables it was started with.

When ``$ENV_NAMES_FILE`` is set, the names in its environment (not their values) go to
that file, one a line, as the app is imported: a test reads them to see what bwsim
passed on. Serve with ``--app tests.bots.env_bot:app``; it answers every request 404.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if os.environ.get("ENV_NAMES_FILE"):
    Path(os.environ["ENV_NAMES_FILE"]).write_text("\n".join(sorted(os.environ)) + "\n", "utf-8")


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Answer 404 to every HTTP request (the harness only needs the port to answer)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})
