"""Things ``--app`` may name by mistake that are not ASGI apps, for the refusal tests.

``--app tests.bots.not_asgi:a_module`` (a module), ``:handler`` (a plain function taking
the wrong arguments), ``:nothing`` (None), ``:make_nothing`` (an app factory returning
None); and, to show factories still work, ``:make_app`` (a factory returning an ASGI
app). Importing it is cheap: no web framework.
"""

from __future__ import annotations

import json as a_module
from typing import Any

__all__ = ["a_module", "handler", "make_app", "make_nothing", "nothing"]

nothing = None


def handler(request: object, settings: object) -> str:
    """A function that is not an ASGI app: two arguments, not async."""
    return f"{request} {settings}"


def make_nothing() -> None:
    """An app factory that forgot to return the app."""


async def _tiny_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers every HTTP request 204."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def make_app() -> Any:
    """An app factory, as uvicorn accepts: called with no arguments, returns the app."""
    return _tiny_app
