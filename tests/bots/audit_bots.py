"""Broken copies of the reference bot for the audit, importable as ``--app`` targets.

The audit starts every bot in a child process from ``MODULE:ATTR``, so each flaw of
``broken_bots`` is a module attribute here, built when first looked up (PEP 562), so one
flaw's patch never leaks into another's app. Settings are read from the environment
bwsim gives the child (the stores' lifetime from ``BOT_TOKEN_TTL_S``).

- ``ignores_token_value``: any token gets the call that rang last (``ws.unknown_token``);
- ``eternal_tokens``: tokens are consumed but never expire (``ws.token_expiry``);
- ``trusts_start_ids``: callId/accountId come from the start frame (``spoof.start_ids``);
- ``trusts_start_account``: only accountId comes from the start frame, callId from the
  token (``spoof.start_ids``: its own call id under the forged account);
- ``accepts_when_unconfigured``: empty webhook credentials count as configured
  (``webhook.creds_unset``);
- ``accepts_unsafe_ids``: ids with URL metacharacters are accepted (``webhook.bad_body``).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict

from fastapi import FastAPI

import bot.app
from bot.app import create_app
from bot.config import Settings
from bot.tokens import Binding, MemoryTokenStore
from tests.bots.broken_bots import (
    AlwaysConfiguredSettings,
    LatestCallTokenStore,
    trusting_start_account,
    trusting_start_ids,
)


class NeverExpiringTokenStore(MemoryTokenStore):
    """One-time tokens with no lifetime at all: minted tokens wait forever to be used."""

    async def mint(self, call_id: str, account_id: str) -> str:
        token = await super().mint(call_id, account_id)
        self._tokens[token] = (Binding(call_id, account_id), float("inf"))
        return token


def _ttl() -> float:
    return float(os.environ.get("BOT_TOKEN_TTL_S", "60"))


def _accepts_unsafe_ids() -> FastAPI:
    bot.app.ID_RE = re.compile(r".+", re.DOTALL)  # this child process serves this app only
    return create_app()


_BUILDERS = {
    "ignores_token_value": lambda: create_app(store=LatestCallTokenStore(_ttl())),
    "eternal_tokens": lambda: create_app(store=NeverExpiringTokenStore(_ttl())),
    "trusts_start_ids": lambda: create_app(resolve_ids=trusting_start_ids),
    "trusts_start_account": lambda: create_app(resolve_ids=trusting_start_account),
    "accepts_when_unconfigured": lambda: create_app(
        AlwaysConfiguredSettings(**asdict(Settings.from_env()))
    ),
    "accepts_unsafe_ids": _accepts_unsafe_ids,
}


def __getattr__(name: str) -> FastAPI:
    if name not in _BUILDERS:
        raise AttributeError(name)
    app = _BUILDERS[name]()
    globals()[name] = app
    return app
