"""A bot that dies on its second call: ``tests.bots.raw_bot`` behind a middleware that exits.

The first ``POST /tone`` webhook is served as ``raw_bot`` serves it (a second of tone).
When the second arrives, the bot prints :data:`LAST_WORDS` and ends its process with
``os._exit(1)`` before answering, as a bot whose call setup crashes the interpreter
would. Serve with ``--app tests.bots.crash_bot:app``; it is also an ASGI middleware
wrapping a FastAPI app, a shape ``--app`` must accept.
"""

from __future__ import annotations

import os
from typing import Any

from tests.bots.raw_bot import app as raw_app

__all__ = ["LAST_WORDS", "CrashOnSecondCall", "app"]

LAST_WORDS = "crash_bot: the second call came in; exiting with code 1 on purpose"
"""What the bot prints just before it exits: the log tail a report must show."""


class CrashOnSecondCall:
    """ASGI middleware: passes everything to the app, and exits on the second call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Count the call webhooks (``POST /tone``); die at the second."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/tone":
            self.calls += 1
            if self.calls == 2:
                print(LAST_WORDS, flush=True)
                os._exit(1)
        await self.inner(scope, receive, send)


app = CrashOnSecondCall(raw_app)
