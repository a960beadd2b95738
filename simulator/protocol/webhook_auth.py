"""Webhook authentication, Sans-I/O: the Basic header, the auth modes, the challenge.

Bandwidth documents HTTP Basic with the RFC 7235 challenge flow for webhooks
(docs/bandwidth.md §2.8): the first request carries no ``Authorization``; only a ``401`` whose
``WWW-Authenticate`` names Basic makes it resend with credentials; a ``401`` without that
header loses the callback (no retry). :class:`WebhookAuth` reproduces that flow by
default and offers modes that probe a bot's checks (pre-emptive, wrong password, wrong
username, no credentials, another scheme).

:func:`basic_authorization` is the one builder of an ``Authorization: Basic`` value in
bwsim: webhooks, the media stream's upgrade request and the audit all use it.

Signatures. Bandwidth documents **no** signature on voice webhooks. The opt-in signing
*extension* (:func:`extension_signature`) is modelled on the one signed-webhook scheme
Bandwidth does document, for Toll-Free-Verification status webhooks: header
``x-bandwidth-signature-hmac-sha256`` with the lower-case hex HMAC-SHA256 of the request
body. It is not something Bandwidth does for voice webhooks; never present it as such.

Nothing here opens a socket: the sender is :mod:`simulator.call.webhook_sender`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from simulator.errors import ConfigError

__all__ = [
    "AUTH_MODES",
    "EXTENSION_SIGNATURE_HEADER",
    "NO_CREDENTIALS_HINT",
    "AuthMode",
    "AuthSent",
    "WebhookAuth",
    "basic_authorization",
    "check_signing_secret",
    "extension_signature",
    "names_basic",
]

NO_CREDENTIALS_HINT: Final = (
    "bwsim has no webhook credentials to send: give it the bot's (for a bot bwsim does not "
    "start: export BANDWIDTH_WEBHOOK_USERNAME and BANDWIDTH_WEBHOOK_PASSWORD where bwsim "
    "runs, Locust workers included; in Python: WebhookAuth(username=..., password=...))"
)
"""What to do when a bot wants webhook credentials bwsim was not given."""
EXTENSION_SIGNATURE_HEADER: Final = "x-bandwidth-signature-hmac-sha256"
"""Header of bwsim's opt-in signing *extension*.

Modelled on Bandwidth's Toll-Free-Verification webhook signature; Bandwidth documents no
signature for voice webhooks (docs/bandwidth.md §2.8).
"""

_TFV_SECRET_RE: Final = re.compile(r"[ -~]{16,64}")

AuthMode = Literal["challenge", "preemptive", "wrong", "wrong_username", "none", "scheme"]
AUTH_MODES: Final[tuple[AuthMode, ...]] = get_args(AuthMode)

AuthSent = Literal["none", "basic", "basic-wrong-password", "basic-wrong-username", "bearer"]
"""What one attempt carried in ``Authorization``."""


def _token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def basic_authorization(username: str, password: str) -> str:
    """Return the ``Authorization`` value for HTTP Basic: ``Basic <base64 user:pass>``."""
    return f"Basic {_token(username, password)}"


def names_basic(challenge: str | None) -> bool:
    """Whether a ``WWW-Authenticate`` value offers the Basic scheme (RFC 7235 §4.1)."""
    if not challenge:
        return False
    return re.search(r"(?:^|,)\s*basic(?:\s|,|$)", challenge, re.IGNORECASE) is not None


def extension_signature(secret: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``body`` keyed with ``secret``: the signing extension.

    Modelled on Bandwidth's Toll-Free-Verification webhook signature; Bandwidth does not
    sign voice webhooks. A bot can verify with ``hmac.compare_digest``.
    """
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_signing_secret(signing_secret: str) -> None:
    """Raise :class:`ConfigError` unless the secret is 16-64 printable ASCII characters."""
    if not _TFV_SECRET_RE.fullmatch(signing_secret):
        msg = (
            "signing_secret must be 16-64 printable ASCII characters, as Bandwidth's "
            f"TFV sharedSecretKey (got {len(signing_secret)} characters)"
        )
        raise ConfigError(msg)


@dataclass(frozen=True)
class WebhookAuth:
    """How a webhook sender authenticates, and which of a bot's checks it probes.

    Modes:

    - ``challenge`` (default; Bandwidth's documented flow, docs/bandwidth.md §2.8): first
      request without ``Authorization``; only a ``401`` whose ``WWW-Authenticate`` names
      Basic makes it resend once with ``Authorization: Basic …``. Without credentials configured it
      never sends any, as Bandwidth with no ``CallbackCreds``.
    - ``preemptive``: the correct Basic credentials on the first request.
    - ``wrong``: Basic with the right username and a wrong password, sent at once.
    - ``wrong_username``: Basic with a wrong username and the right password, at once.
    - ``none``: never any credentials, even when challenged.
    - ``scheme``: the correct credentials under another scheme
      (``Authorization: Bearer <base64 user:pass>``), at once: a bot must check the
      scheme, not only the token.

    Every mode but ``challenge`` and ``none`` needs ``username`` and ``password``.
    """

    mode: AuthMode = "challenge"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in AUTH_MODES:
            msg = f"WebhookAuth mode {self.mode!r} is unknown; use one of {list(AUTH_MODES)}"
            raise ConfigError(msg)
        if (self.username is None) != (self.password is None):
            msg = "WebhookAuth needs both username and password, or neither"
            raise ConfigError(msg)
        if self.mode not in ("challenge", "none") and self.username is None:
            msg = (
                f"WebhookAuth mode {self.mode!r} sends credentials: pass username= and "
                "password= (the bot's webhook credentials)"
            )
            raise ConfigError(msg)
        if self.username is not None and ":" in self.username:
            msg = f"username {self.username!r} contains ':', which HTTP Basic cannot carry"
            raise ConfigError(msg)

    @property
    def has_credentials(self) -> bool:
        """Whether a username and password are configured."""
        return self.username is not None and self.password is not None

    def first_attempt(self) -> AuthSent:
        """Return what the first request of an exchange carries."""
        first: Mapping[AuthMode, AuthSent] = {
            "challenge": "none",
            "preemptive": "basic",
            "wrong": "basic-wrong-password",
            "wrong_username": "basic-wrong-username",
            "none": "none",
            "scheme": "bearer",
        }
        return first[self.mode]

    def header(self, sent: AuthSent) -> str | None:
        """Return the ``Authorization`` value for ``sent``, or None for no header."""
        if sent == "none":
            return None
        assert self.username is not None
        assert self.password is not None
        user, password = self.username, self.password
        if sent == "basic-wrong-password":
            password += "-bwsim-wrong"  # longer, so never equal to the real one
        elif sent == "basic-wrong-username":
            user += "-bwsim-wrong"
        if sent == "bearer":
            return f"Bearer {_token(user, password)}"
        return basic_authorization(user, password)
