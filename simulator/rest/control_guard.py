"""Who may use the simulator's control API (``/_bwsim/*``): the run's own parts only.

The control API places calls, writes files and shows the journal, so a web page the
developer has open must not reach it (a page can send requests to loopback, and DNS
rebinding gives it a name that resolves there). Every ``/_bwsim/*`` request must:

- name a loopback host or the address the fake is bound to in ``Host`` (403 otherwise:
  a rebound name is refused), and come from no foreign ``Origin`` (403);
- carry the run's token, ``Authorization: Bearer $BWSIM_CONTROL_TOKEN`` (401 otherwise):
  ``bwsim serve`` prints it with its exports and every bot bwsim starts has it;
- when it is a POST, say ``Content-Type: application/json`` (415 otherwise: a page's
  "simple" ``text/plain`` or form POST is refused).

Each refusal is a Bandwidth-style ``{type, description}`` body saying what to do.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["TOKEN_VAR", "Refusal", "check_control_request", "new_control_token"]

TOKEN_VAR = "BWSIM_CONTROL_TOKEN"  # noqa: S105 - a variable name, not a token
"""The variable that holds the run's control token, for ``bwsim serve``'s exports and bots."""


@dataclass(frozen=True)
class Refusal:
    """Why a control request was refused: its status, Bandwidth-style type and advice."""

    status: int
    kind: str
    description: str


def new_control_token() -> str:
    """A fresh control token (one per harness, so one per run)."""
    return secrets.token_urlsafe(24)


def _loopback_name(host: str, bound: str | None) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host in ("localhost", (bound or "").strip("[]").lower()) or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """``127.0.0.1`` of ``127.0.0.1:8080``, ``::1`` of ``[::1]:8080``."""
    return urlsplit(f"//{header}").hostname or ""


def check_control_request(
    method: str, headers: dict[str, str], *, token: str, bound_host: str | None
) -> Refusal | None:
    """The refusal of a ``/_bwsim/*`` request (lower-cased ``headers``), or None if it may pass.

    ``bound_host`` is the address the server listens on (``127.0.0.1``).
    """
    host = headers.get("host", "")
    if not host or not _loopback_name(_host_of(host), bound_host):
        return Refusal(
            403,
            "forbidden",
            f"the control API answers requests for a loopback host only, not Host {host!r}: "
            "use http://127.0.0.1:PORT/_bwsim/… as bwsim serve prints it",
        )
    origin = headers.get("origin")
    if origin is not None and not _loopback_name(urlsplit(origin).hostname or "", bound_host):
        return Refusal(
            403,
            "forbidden",
            f"the control API is not for web pages (Origin {origin!r}): call it from a "
            "script or curl with the token bwsim serve prints",
        )
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("latin-1", "replace"), token.encode("latin-1", "replace")
    ):
        what = "no Bearer token" if scheme.lower() != "bearer" else "a wrong Bearer token"
        return Refusal(
            401,
            "unauthorized",
            f"the control API needs this run's token and the request had {what}: send "
            f'-H "Authorization: Bearer ${TOKEN_VAR}" ({TOKEN_VAR} is among the lines '
            "bwsim serve prints, and in the environment of every bot bwsim starts)",
        )
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if method.upper() == "POST" and content_type != "application/json":
        return Refusal(
            415,
            "unsupported-media-type",
            "the control API takes JSON only: send the body with "
            f'-H "Content-Type: application/json", not {content_type or "no Content-Type"!r}',
        )
    return None
