"""One-time stream tokens bound to the ids of an authenticated webhook.

The media WebSocket carries nothing the bot can trust (the ``start`` frame is
attacker-controlled), so the webhook that Bandwidth authenticated mints a token, bound
server-side to that call's ``(callId, accountId)``, and puts it in the ``<StartStream>``
destination. The socket presents it once; it is gone after that, and after its TTL.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis


@dataclass(frozen=True)
class Binding:
    """The trusted ids a token stands for."""

    call_id: str
    account_id: str


class TokenStore(Protocol):
    """Mints and consumes one-time tokens."""

    async def mint(self, binding: Binding) -> str:
        """Return a new token for ``binding``."""
        ...

    async def consume(self, token: str) -> Binding | None:
        """Return the binding once; None for unknown, used or expired tokens."""
        ...


def new_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


class MemoryTokenStore:
    """Tokens in this process (one worker)."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[Binding, float]] = {}

    async def mint(self, binding: Binding) -> str:
        now = time.monotonic()
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        token = new_token()
        self._tokens[token] = (binding, now + self.ttl_s)
        return token

    async def consume(self, token: str) -> Binding | None:
        entry = self._tokens.pop(token, None)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]


class RedisTokenStore:
    """Tokens in Redis, shared by every worker; consumed atomically with GETDEL."""

    def __init__(self, url: str, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._redis = redis.from_url(url)

    async def mint(self, binding: Binding) -> str:
        token = new_token()
        value = json.dumps({"call_id": binding.call_id, "account_id": binding.account_id})
        await self._redis.set(f"bwbot:token:{token}", value, px=int(self.ttl_s * 1000))
        return token

    async def consume(self, token: str) -> Binding | None:
        raw = await self._redis.getdel(f"bwbot:token:{token}")
        if raw is None:
            return None
        data = json.loads(raw)
        return Binding(data["call_id"], data["account_id"])
