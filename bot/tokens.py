"""One-time stream tokens bound to the ids of an authenticated webhook.

The media WebSocket carries nothing the bot can trust (the ``start`` frame is
attacker-controlled), so the webhook that Bandwidth authenticated mints a token, bound
server-side to that call's ``(callId, accountId)``, and puts it in the ``<StartStream>``
destination. The socket presents it once; it is gone after that, and after its TTL.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Binding:
    """The trusted ids a token stands for."""

    call_id: str
    account_id: str


class TokenStore(Protocol):
    """Mints and consumes one-time tokens."""

    async def mint(self, call_id: str, account_id: str) -> str:
        """Return a new token bound to the call."""
        ...

    async def consume(self, token: str) -> Binding | None:
        """Return the binding once; None for unknown, used or expired tokens."""
        ...

    async def aclose(self) -> None:
        """Release connections (at app shutdown)."""
        ...


TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
"""What :func:`new_token` makes; anything else is refused before a store is asked."""


def new_token() -> str:
    """32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


class MemoryTokenStore:
    """Tokens in this process (one worker)."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[Binding, float]] = {}

    async def mint(self, call_id: str, account_id: str) -> str:
        now = time.monotonic()
        # Drop expired tokens so unclaimed ones cannot pile up.
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        token = new_token()
        self._tokens[token] = (Binding(call_id, account_id), now + self.ttl_s)
        return token

    async def consume(self, token: str) -> Binding | None:
        entry = self._tokens.pop(token, None)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def aclose(self) -> None:
        self._tokens.clear()


class RedisTokenStore:
    """Tokens in Redis, shared by every worker.

    ``GETDEL`` (Redis 6.2+) reads and deletes in one atomic step, so of two workers
    presenting the same token at once exactly one gets the binding. The key expires on
    the server (``PX``: milliseconds, so a test can use a sub-second TTL), so an unused
    token needs no sweeping.
    """

    PREFIX = "bwbot:token:"

    def __init__(self, url: str, ttl_s: float = 60.0, *, timeout_s: float = 2.0) -> None:
        # Imported here: redis-py takes ~0.4 s to import, and most bots run with memory tokens.
        import redis.asyncio as redis  # noqa: PLC0415

        self.ttl_s = ttl_s
        self._redis = redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    async def mint(self, call_id: str, account_id: str) -> str:
        token = new_token()
        value = json.dumps({"call_id": call_id, "account_id": account_id})
        await self._redis.set(self.PREFIX + token, value, px=max(1, int(self.ttl_s * 1000)))
        return token

    async def consume(self, token: str) -> Binding | None:
        raw = await self._redis.getdel(self.PREFIX + token)
        if raw is None:
            return None
        data = json.loads(raw)
        return Binding(data["call_id"], data["account_id"])

    async def aclose(self) -> None:
        await self._redis.aclose()
