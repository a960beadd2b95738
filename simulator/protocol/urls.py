"""Where a URL from the bot's BXML really points: the bot under test, on loopback.

The bot names itself by its public host (``PROXY_HOST``: an ngrok name in real life);
bwsim never leaves loopback, so any host but an explicit loopback address with a port is
taken to mean the bot under test. Path and query are kept.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

__all__ = ["http_url", "is_loopback_ip", "stream_url", "to_bot"]


def is_loopback_ip(host: str) -> bool:
    """Whether ``host`` is a loopback IP address (``127.0.0.1``, ``[::1]`` …), not a name."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def to_bot(url: str, bot_base_url: str, scheme: str) -> str:
    """Point ``url`` at the bot at ``bot_base_url`` with ``scheme``, keeping path and query."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    explicit = parts.port is not None and (host == "localhost" or is_loopback_ip(host))
    netloc = parts.netloc if explicit else urlsplit(bot_base_url).netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def stream_url(destination: str, bot_base_url: str) -> str:
    """Map a ``<StartStream destination>`` to a ``ws://`` URL of the bot."""
    return to_bot(destination, bot_base_url, "ws")


def http_url(url: str, bot_base_url: str) -> str:
    """Map a webhook URL from BXML (``streamEventUrl``, ``redirectUrl`` …) to the bot."""
    return to_bot(url, bot_base_url, urlsplit(bot_base_url).scheme)
