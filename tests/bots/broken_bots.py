"""Deliberately broken copies of the reference bot: each security test must catch one.

They are built from ``bot.app.create_app`` through its seams, so the shipped bot has no
flaw switches; each flaw is the mistake a real bot makes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bot.app import create_app
from bot.config import Settings
from bot.tokens import Binding, MemoryTokenStore


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


def trusting_start_ids(binding: Binding, start: dict[str, Any]) -> Binding:
    """Reads the ids from the attacker-controlled start frame."""
    meta = start["metadata"]
    return Binding(meta["callId"], meta["accountId"])


def broken_app(flaw: str, settings: Settings) -> FastAPI:
    """The reference bot with one security flaw."""
    if flaw == "accepts-any-credentials":
        return create_app(settings, authenticate=lambda _s, _h: True)
    if flaw == "reusable-tokens":
        return create_app(settings, store=ReusableTokenStore(settings.token_ttl_s))
    if flaw == "eternal-tokens":
        return create_app(settings, store=EternalTokenStore(settings.token_ttl_s))
    if flaw == "trusts-start-ids":
        return create_app(settings, resolve_ids=trusting_start_ids)
    raise ValueError(flaw)
