"""bwsim's opt-in webhook signing *extension*, Sans-I/O: what to sign and which headers to add.

Bandwidth signs **no** voice webhook (docs/bandwidth.md §2.8): its mechanism is HTTP
Basic. Some teams put a signing gateway in front of their bot; :class:`Signing` lets
bwsim sign the webhooks it sends so such a bot can show that it accepts what is signed
and refuses what is not. It is bwsim's extension, never a Bandwidth behaviour.

The scheme (docs/bandwidth.md §2.8):

- Without a timestamp header, the signature header carries the lower-case hex HMAC of
  the exact body bytes, keyed with the secret: the scheme Bandwidth documents for its
  Toll-Free-Verification webhooks (``x-bandwidth-signature-hmac-sha256``, HMAC-SHA256).
- With ``timestamp_header``, that header carries the Unix time in whole seconds and the
  HMAC is over ``f"{timestamp}.".encode() + body``, as Stripe and Slack sign theirs, so a
  bot can refuse a replayed webhook by its age.
- ``algorithm`` is ``sha256`` (default), ``sha1`` or ``sha512`` (hashlib's names).

Modes probe a bot's checks: ``good`` signs correctly; ``wrong`` signs with another key;
``missing`` sends no signature header (the timestamp header, if any, still goes);
``stale`` signs correctly over a timestamp :data:`STALE_AGE_S` seconds old (it needs a
timestamp header and uses :data:`DEFAULT_TIMESTAMP_HEADER` when none is given).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from simulator.errors import ConfigError
from simulator.protocol.webhook_auth import EXTENSION_SIGNATURE_HEADER, check_signing_secret

__all__ = [
    "DEFAULT_TIMESTAMP_HEADER",
    "SIGNING_ALGORITHMS",
    "SIGNING_MODES",
    "STALE_AGE_S",
    "Signing",
    "SigningAlgorithm",
    "SigningMode",
    "signature",
]

SigningMode = Literal["good", "wrong", "missing", "stale"]
SIGNING_MODES: Final[tuple[SigningMode, ...]] = get_args(SigningMode)

SigningAlgorithm = Literal["sha256", "sha1", "sha512"]
SIGNING_ALGORITHMS: Final[tuple[SigningAlgorithm, ...]] = get_args(SigningAlgorithm)

DEFAULT_TIMESTAMP_HEADER: Final = "x-bwsim-signature-timestamp"
"""The timestamp header of ``stale`` mode when none is configured (bwsim's name)."""

STALE_AGE_S: Final = 600
"""How old a ``stale`` timestamp is: 10 minutes, twice the 5-minute tolerance Stripe and
Slack recommend, so any bot with a sensible tolerance refuses it."""

_HEADER_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_WRONG_KEY_SUFFIX: Final = "-bwsim-wrong"


def signature(
    secret: str, body: bytes, *, algorithm: str = "sha256", timestamp: int | None = None
) -> str:
    """The lower-case hex HMAC of ``body`` (prefixed ``f"{timestamp}."`` when given)."""
    signed = body if timestamp is None else f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, algorithm).hexdigest()


def _check_header(what: str, name: str) -> None:
    if not _HEADER_RE.fullmatch(name):
        msg = f"signing {what} {name!r} is not an HTTP header name (letters, digits, '-')"
        raise ConfigError(msg)


@dataclass(frozen=True)
class Signing:
    """How bwsim signs the webhooks of a call: its signing *extension* (not Bandwidth's).

    ``secret`` is 16-64 printable ASCII characters (as Bandwidth's TFV
    ``sharedSecretKey``); ``header`` names the signature header; ``algorithm`` is one of
    :data:`SIGNING_ALGORITHMS`; ``mode`` one of :data:`SIGNING_MODES`;
    ``timestamp_header`` turns on the timestamped scheme (see the module docstring).
    """

    secret: str = field(repr=False)
    header: str = EXTENSION_SIGNATURE_HEADER
    algorithm: SigningAlgorithm = "sha256"
    mode: SigningMode = "good"
    timestamp_header: str | None = None

    def __post_init__(self) -> None:
        check_signing_secret(self.secret)
        if self.algorithm not in SIGNING_ALGORITHMS:
            msg = (
                f"signing algorithm {self.algorithm!r} is unknown; use one of "
                f"{list(SIGNING_ALGORITHMS)}"
            )
            raise ConfigError(msg)
        if self.mode not in SIGNING_MODES:
            msg = f"signing mode {self.mode!r} is unknown; use one of {list(SIGNING_MODES)}"
            raise ConfigError(msg)
        _check_header("header", self.header)
        if self.mode == "stale" and self.timestamp_header is None:
            object.__setattr__(self, "timestamp_header", DEFAULT_TIMESTAMP_HEADER)
        if self.timestamp_header is not None:
            _check_header("timestamp_header", self.timestamp_header)
            if self.timestamp_header.lower() == self.header.lower():
                msg = "the signing header and timestamp_header must differ"
                raise ConfigError(msg)

    def headers(self, body: bytes, now: float) -> dict[str, str]:
        """The headers to add to a request carrying ``body``, sent at Unix time ``now``."""
        out: dict[str, str] = {}
        timestamp: int | None = None
        if self.timestamp_header is not None:
            timestamp = int(now) - (STALE_AGE_S if self.mode == "stale" else 0)
            out[self.timestamp_header.lower()] = str(timestamp)
        if self.mode == "missing":
            return out
        key = self.secret + _WRONG_KEY_SUFFIX if self.mode == "wrong" else self.secret
        out[self.header.lower()] = signature(
            key, body, algorithm=self.algorithm, timestamp=timestamp
        )
        return out

    def describe(self) -> str:
        """One line for the timeline: mode, header and algorithm (never the secret)."""
        stamp = f", timestamp in {self.timestamp_header}" if self.timestamp_header else ""
        return f"{self.mode} signature in {self.header} ({self.algorithm}{stamp})"
