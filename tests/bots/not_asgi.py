"""Things ``--app`` may name by mistake that are not ASGI apps, for the refusal tests.

``--app tests.bots.not_asgi:a_module`` (a module), ``:handler`` (a plain function taking
the wrong arguments), ``:nothing`` (None). Importing it is cheap: no web framework.
"""

from __future__ import annotations

import json as a_module

__all__ = ["a_module", "handler", "nothing"]

nothing = None


def handler(request: object, settings: object) -> str:
    """A function that is not an ASGI app: two arguments, not async."""
    return f"{request} {settings}"
