"""Which hosts are Bandwidth's, which are this machine, and what ``--allow-host`` accepts.

Standard library only: the interception (``intercept``) loads this file by path in a
child process that may not have bwsim's dependencies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = [
    "BANDWIDTH_HOSTS",
    "PROXY_BYPASS",
    "allowed_by",
    "check_allow_host",
    "host_name",
    "is_loopback_host",
]

BANDWIDTH_HOSTS = frozenset(
    {
        "api.bandwidth.com",
        "voice.bandwidth.com",
        "test.api.bandwidth.com",
        "test.voice.bandwidth.com",
    }
)
"""The hosts bwsim fakes: their requests are routed to the fake, never let through."""

PROXY_BYPASS = (*sorted(BANDWIDTH_HOSTS), "localhost", "127.0.0.1", "::1")
"""What a bot's ``NO_PROXY`` must name under bwsim: behind an HTTP proxy (``HTTPS_PROXY`` in
a CI runner or on a company laptop) its clients would otherwise send Bandwidth's requests
to the proxy, a host the interception refuses, instead of to the fake."""

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - bind addresses, not destinations


def host_name(host: str | bytes | None) -> str:
    """``host`` as compared: text, no brackets or trailing dot, lower case."""
    if host is None:
        return ""
    if isinstance(host, bytes):
        host = host.decode("ascii", errors="replace")  # IDNA names are ASCII on the wire
    return str(host).strip("[]").rstrip(".").lower()


def is_loopback_host(host: str | bytes | None) -> bool:
    """Whether ``host`` names this machine: loopback addresses, ``localhost`` names, wildcards."""
    if host is None:
        return True
    name = host_name(host)
    if name in _WILDCARDS or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def allowed_by(host: str | bytes | None, patterns: Iterable[str]) -> bool:
    """Whether ``patterns`` (names, or ``*.example.com``) allow ``host``; never Bandwidth's."""
    name = host_name(host)
    if not name or name in BANDWIDTH_HOSTS:
        return False
    for pattern in patterns:
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def check_allow_host(value: str) -> str:
    """An ``--allow-host`` value as a host name; ValueError (naming the value) if it is not one."""
    name = host_name(value.strip())
    if not name or "/" in name or any(c.isspace() for c in name):
        raise ValueError(f"expected a host name such as api.deepgram.com, got {value!r}")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if ":" in name:
            raise ValueError(
                f"expected a host name without a port, got {value!r} "
                "(every port of an allowed host is allowed)"
            ) from None
    if name in BANDWIDTH_HOSTS or (name.startswith("*.") and "bandwidth.com".endswith(name[2:])):
        raise ValueError(
            f"{value!r}: Bandwidth's hosts are always routed to the fake; they cannot be allowed"
        )
    return name
