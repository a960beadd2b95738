"""The fake Bandwidth's state: registry, OAuth tokens, journal, faults and settings.

One :class:`FakeBandwidth` is shared by the Voice API app (``voice_api``) and the call
side. It does no I/O itself; the settings say which of Bandwidth's undocumented
behaviours the fake picks (docs/bandwidth.md §6 lists them), so a user can
change each one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.rest.faults import FaultInjector
from simulator.rest.journal import Journal
from simulator.rest.outbound import OutboundDesk
from simulator.rest.registry import Account, Registry

__all__ = ["FakeBandwidth", "FakeSettings", "IssuedToken"]


@dataclass
class FakeSettings:
    """Behaviours of the fake that Bandwidth does not document, each with our default."""

    token_lifetime_s: float = 3600.0
    """``expires_in`` of issued tokens. Real lifetime undocumented; SDK tests use 3600."""
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    """``token_type`` casing; pipecat's tests use ``Bearer``, the CLI's ``bearer``."""
    ended_call_status: int = 404
    """Status for modifying an ended call: 404 (docs/bandwidth.md §4.3) or 409 (just ended)."""
    accept_basic_auth: bool = False
    """Accept HTTP Basic client credentials on the Voice API (legacy, sunset 2026-12-02)."""
    strict_update_root: bool = True
    """``PUT …/bxml`` takes only a ``<Bxml>`` root (every spec example); False accepts both."""


@dataclass(frozen=True)
class IssuedToken:
    """An OAuth access token the fake issued."""

    token: str
    client_id: str
    account_id: str
    expires_at: float

    def expired(self, now: float) -> bool:
        """Whether the token is past its lifetime at monotonic time ``now``."""
        return now >= self.expires_at


@dataclass
class FakeBandwidth:
    """Everything the fake Bandwidth knows, shared by its REST and call sides."""

    settings: FakeSettings = field(default_factory=FakeSettings)
    registry: Registry = field(default_factory=Registry)
    journal: Journal = field(default_factory=Journal)
    faults: FaultInjector = field(default_factory=FaultInjector)
    clock: Callable[[], float] = time.monotonic
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    caller_lines: dict[str, list[str]] = field(default_factory=dict)
    outbound: OutboundDesk = field(default_factory=OutboundDesk)
    """Who plays the callee of each call a bot creates (``POST …/calls``)."""
    default_account: Account = field(init=False)

    def __post_init__(self) -> None:
        self.default_account = self.registry.create_account()

    # -- OAuth ----------------------------------------------------------------------

    def issue_token(self, account: Account) -> IssuedToken:
        """Issue an opaque access token for ``account``'s client."""
        issued = IssuedToken(
            token=f"bwsim-at-{secrets.token_urlsafe(24)}",
            client_id=account.client_id,
            account_id=account.account_id,
            expires_at=self.clock() + self.settings.token_lifetime_s,
        )
        self.tokens[issued.token] = issued
        return issued

    def lookup_token(self, token: str) -> IssuedToken | None:
        """Return the token if it was issued and has not expired."""
        issued = self.tokens.get(token)
        if issued is None or issued.expired(self.clock()):
            return None
        return issued

    def expire_tokens(self, client_id: str | None = None) -> int:
        """Expire every token now (or those of one client); returns how many."""
        now = self.clock()
        count = 0
        for key, issued in list(self.tokens.items()):
            if client_id is None or issued.client_id == client_id:
                self.tokens[key] = IssuedToken(
                    issued.token, issued.client_id, issued.account_id, now
                )
                count += 1
        return count

    # -- per-test reset -------------------------------------------------------------

    def reset(self) -> None:
        """Forget calls, requests, faults and tokens; keep accounts.

        Accounts stay because their credentials are baked into the running bot's environment.
        """
        self.registry.calls.clear()
        self.journal.clear()
        self.faults.clear()
        self.tokens.clear()
        self.caller_lines.clear()
        self.outbound.clear()
