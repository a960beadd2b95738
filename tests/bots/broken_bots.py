"""Deliberately broken copies of the reference bot: each security test must catch one.

They are built from ``bot.app.create_app`` through its seams (the token store, the
``authenticate`` and ``resolve_ids`` callables, the settings object) or by patching one
module global for the duration of a test, so the shipped bot has no flaw switches. Each
flaw is a mistake real bots make.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import pytest
from fastapi import FastAPI

import bot.app
from bot.app import create_app
from bot.config import Settings
from bot.tokens import Binding, MemoryTokenStore

FLAWS = (
    "accepts-any-credentials",
    "ignores-auth-scheme",
    "accepts-when-unconfigured",
    "reusable-tokens",
    "eternal-tokens",
    "ignores-token-value",
    "trusts-start-ids",
    "accepts-unsafe-ids",
)


class ReusableTokenStore(MemoryTokenStore):
    """Looks tokens up without consuming them: a token works twice."""

    async def consume(self, token: str) -> Binding | None:
        entry = self._tokens.get(token)
        return entry[0] if entry else None


class EternalTokenStore(MemoryTokenStore):
    """Consumes tokens but never expires them."""

    async def consume(self, token: str) -> Binding | None:
        entry = self._tokens.pop(token, None)
        return entry[0] if entry else None


class LatestCallTokenStore(MemoryTokenStore):
    """Ignores the token's value: any token gets the call that rang last."""

    async def consume(self, token: str) -> Binding | None:
        if not self._tokens:
            return None
        return list(self._tokens.values())[-1][0]


@dataclass(frozen=True)
class AlwaysConfiguredSettings(Settings):
    """Treats empty webhook credentials as configured (so ``Basic :`` gets in)."""

    @property
    def webhook_configured(self) -> bool:
        return True


def any_scheme_auth(settings: Settings, header: str | None) -> bool:
    """Checks the credentials but not the scheme: ``Bearer <base64 user:pass>`` gets in."""
    _, _, encoded = (header or "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(
        f"{user}:{password}".encode(),
        f"{settings.webhook_username}:{settings.webhook_password}".encode(),
    )


def trusting_start_ids(binding: Binding, start: dict[str, Any]) -> Binding:
    """Reads the ids from the attacker-controlled start frame."""
    meta = start["metadata"]
    return Binding(meta["callId"], meta["accountId"])


def trusting_start_account(binding: Binding, start: dict[str, Any]) -> Binding:
    """Keeps the token's callId but takes the accountId from the start frame."""
    return Binding(binding.call_id, start["metadata"]["accountId"])


def broken_app(
    flaw: str, settings: Settings, monkeypatch: pytest.MonkeyPatch | None = None
) -> FastAPI:
    """The reference bot with one security flaw (``monkeypatch`` for the patched ones)."""
    if flaw == "accepts-any-credentials":
        return create_app(settings, authenticate=lambda _s, _h: True)
    if flaw == "ignores-auth-scheme":
        return create_app(settings, authenticate=any_scheme_auth)
    if flaw == "accepts-when-unconfigured":
        return create_app(AlwaysConfiguredSettings(**asdict(settings)))
    if flaw == "reusable-tokens":
        return create_app(settings, store=ReusableTokenStore(settings.token_ttl_s))
    if flaw == "eternal-tokens":
        return create_app(settings, store=EternalTokenStore(settings.token_ttl_s))
    if flaw == "ignores-token-value":
        return create_app(settings, store=LatestCallTokenStore(settings.token_ttl_s))
    if flaw == "trusts-start-ids":
        return create_app(settings, resolve_ids=trusting_start_ids)
    if flaw == "accepts-unsafe-ids":
        if monkeypatch is None:
            raise ValueError("the accepts-unsafe-ids bot patches bot.app: pass monkeypatch")
        monkeypatch.setattr(bot.app, "ID_RE", re.compile(r".+", re.DOTALL))
        return create_app(settings)
    raise ValueError(f"unknown flaw {flaw!r}; known: {FLAWS}")
