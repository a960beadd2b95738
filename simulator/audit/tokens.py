"""Where a bot's stream token sits in its ``<StartStream destination>``, and how strong it is.

Pure functions, no I/O. A bot may put its one-time token anywhere in the destination:
a path segment (``/ws/<token>``, the guide's choice), a query parameter
(``?session=<token>``), or nowhere at all (the insecure ``?call_id=<callId>`` pattern).
The audit finds it by comparing destinations minted for the same call: whatever differs
is the token; nothing differing means there is no token.

Strength is estimated from what varies between tokens: the common prefix and suffix of
several tokens (a timestamp, a counter's leading digits, a fixed tag) carry no secret,
so only the varying middle is counted, at the bits per character of the smallest
alphabet holding it.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import string
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "MIN_TOKEN_BITS",
    "Part",
    "TokenStrength",
    "bot_stream_url",
    "destination_parts",
    "forge",
    "replace_parts",
    "token_strength",
    "varying_parts",
]

MIN_TOKEN_BITS: Final = 96
"""Below this a token can be guessed or enumerated (OWASP session-id guidance asks 64+
bits of entropy; a UUID4 has 122, the guide's ``token_urlsafe(32)`` 256)."""

_ALPHABETS: Final = (
    ("digits", string.digits),
    ("hex", string.digits + "abcdef"),
    ("HEX", string.digits + "ABCDEF"),
    ("lower alphanumeric", string.digits + string.ascii_lowercase),
    ("alphanumeric", string.digits + string.ascii_letters),
    ("base64url", string.digits + string.ascii_letters + "-_"),
)

Part = tuple[str, str]
"""``(where, value)``: ``("path:2", "abc")`` or ``("query:session", "abc")``."""


def destination_parts(url: str) -> list[Part]:
    """The path segments and query values of a destination, each with its place."""
    parts = urlsplit(url)
    out: list[Part] = [
        (f"path:{i}", seg) for i, seg in enumerate(parts.path.split("/")) if i and seg
    ]
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        out.append((f"query:{name}", value))
    return out


def varying_parts(urls: list[str]) -> dict[str, list[str]]:
    """The places whose values differ between destinations, with every value seen.

    Destinations of different shapes (a place present in one only) count that place as
    varying, with ``""`` for the missing value.
    """
    seen: dict[str, list[str]] = {}
    per_url = [dict(destination_parts(u)) for u in urls]
    places = sorted({k for d in per_url for k in d})
    for place in places:
        values = [d.get(place, "") for d in per_url]
        if len(set(values)) > 1:
            seen[place] = values
    return seen


def _alphabet(text: str) -> tuple[str, str]:
    for name, chars in _ALPHABETS:
        if text and all(c in chars for c in text):
            return name, chars
    distinct = "".join(sorted(set(text)))
    return "mixed", distinct or "?"


def _common_prefix(values: list[str]) -> int:
    shortest = min((len(v) for v in values), default=0)
    for i in range(shortest):
        if len({v[i] for v in values}) > 1:
            return i
    return shortest


def _common_suffix(values: list[str], prefix: int) -> int:
    shortest = min((len(v) for v in values), default=0) - prefix
    for i in range(shortest):
        if len({v[len(v) - 1 - i] for v in values}) > 1:
            return i
    return max(shortest, 0)


@dataclass(frozen=True)
class TokenStrength:
    """How guessable a set of tokens looks."""

    bits: float
    alphabet: str
    varying_chars: int
    shared_prefix: int
    shared_suffix: int

    @property
    def strong(self) -> bool:
        """Whether the varying part carries at least :data:`MIN_TOKEN_BITS`."""
        return self.bits >= MIN_TOKEN_BITS


def token_strength(tokens: list[str]) -> TokenStrength:
    """Estimate the secret bits in ``tokens`` (two or more, from the same bot).

    Counts only the part that varies between tokens, at the bits per character of the
    smallest standard alphabet that holds it (a UUID4's hex digits: 4 bits each).
    """
    if len(tokens) < 2:
        raise ValueError("token_strength needs at least two tokens to compare")
    prefix = _common_prefix(tokens)
    suffix = _common_suffix(tokens, prefix)
    middles = [t[prefix : len(t) - suffix] for t in tokens]
    shortest = min(middles, key=len)
    joined = "".join(middles)
    name, chars = _alphabet(joined)
    counted = len(shortest)
    if name in ("base64url", "mixed"):
        # Dashes in fixed places (a UUID's) separate groups; they are not secret.
        bare_name, bare_chars = _alphabet(joined.replace("-", ""))
        if bare_name in ("digits", "hex", "HEX"):
            name, chars, counted = bare_name, bare_chars, len(shortest.replace("-", ""))
    per_char = math.log2(len(chars)) if len(chars) > 1 else 0.0
    return TokenStrength(
        bits=round(counted * per_char, 1),
        alphabet=name,
        varying_chars=counted,
        shared_prefix=prefix,
        shared_suffix=suffix,
    )


def forge(value: str, how: str) -> str:
    """A token the bot never minted, shaped from a real one.

    ``how`` is ``same-shape`` (random characters of the same alphabet and length: it
    passes any format check), ``near-miss`` (the last character changed) or ``short``.
    """
    if how == "short":
        return "x"
    _, chars = _alphabet(value)
    if len(chars) < 2:
        chars = string.ascii_letters + string.digits
    if how == "near-miss":
        last = value[-1:] or "a"
        replacement = next(c for c in chars if c != last)
        return value[:-1] + replacement
    if how == "same-shape":
        while True:
            fresh = "".join(secrets.choice(chars) for _ in value) or "x"
            if fresh != value:
                return fresh
    raise ValueError(f"unknown forgery {how!r}: use same-shape, near-miss or short")


def replace_parts(url: str, values: dict[str, str]) -> str:
    """``url`` with the given places (from :func:`destination_parts`) set to new values."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    for place, value in values.items():
        kind, _, key = place.partition(":")
        if kind == "path":
            segments[int(key)] = quote(value, safe="")
    query = [
        (name, values.get(f"query:{name}", value))
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(
        (parts.scheme, parts.netloc, "/".join(segments), urlencode(query), parts.fragment)
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bot_stream_url(destination: str, bot_base_url: str) -> str:
    """Map a ``<StartStream destination>`` to the bot on loopback, path and query kept.

    The same rule the call simulator applies: the bot names itself by its public host
    (``PROXY_HOST``, an ngrok name in real life), so any host but an explicit loopback
    address with a port means the bot under test; nothing leaves loopback.
    """
    parts = urlsplit(destination)
    host = (parts.hostname or "").lower()
    explicit = parts.port is not None and (host == "localhost" or _is_loopback(host))
    netloc = parts.netloc if explicit else urlsplit(bot_base_url).netloc
    return urlunsplit(("ws", netloc, parts.path or "/", parts.query, ""))
