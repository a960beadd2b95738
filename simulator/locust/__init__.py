"""Locust support: whole Bandwidth calls as Locust users, on one machine or many.

``from simulator.locust import BandwidthCallUser`` in a locustfile (see
``examples/locustfile.py``). The user class is imported on first use, because importing
Locust monkey-patches the standard library for gevent: ``simulator.locust.engine`` (the
asyncio side) and ``simulator.locust.router`` (the router the bot's Voice API requests
go through) import neither Locust nor gevent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BandwidthCallUser"]


def __getattr__(name: str) -> Any:
    """Import the Locust user class (and Locust with it) when a locustfile asks for it."""
    if name == "BandwidthCallUser":
        from simulator.locust.user import BandwidthCallUser  # noqa: PLC0415

        return BandwidthCallUser
    raise AttributeError(name)
