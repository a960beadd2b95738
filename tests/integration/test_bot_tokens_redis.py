"""Several bot workers sharing a real redis-server: a token minted by one is good once, anywhere.

The workers are ``python -m bot`` processes with the same ``REDIS_URL``; redis-server
listens on a Unix socket in ``tmp_path`` (nothing leaves the machine, no port to pick).
Each check is also run against a copy that gets it wrong: workers with per-process
memory stores, and a Redis store that reads and deletes in two steps.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tokens import Binding, RedisTokenStore, new_token
from tests.integration.bandwidth_client import WEBHOOK_PASSWORD, WEBHOOK_USER, mint_token, refusal
from tests.integration.bot_process import OutputWatcher, bot_processes, stop


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server on a Unix socket.

    Missing, the test fails under ``BWSIM_REQUIRE_REDIS=1`` (``nox -s tests`` sets it, and
    stops first if it cannot install redis-server); only a bare local ``pytest`` skips.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("BWSIM_REQUIRE_REDIS") == "1":
            pytest.fail(
                "redis-server is required (BWSIM_REQUIRE_REDIS=1) but not installed: "
                "apt install redis-server (or brew install redis)"
            )
        pytest.skip("redis-server is not installed (nox -s tests requires it)")
    sock = tmp_path / "redis.sock"
    args = [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = OutputWatcher(proc, "redis-server")
    try:
        watcher.wait_for(re.compile("ready to accept connections", re.IGNORECASE), 10)
        yield f"unix://{sock}"
    finally:
        stop(proc)
        watcher.join()


class GetThenDeleteTokenStore(RedisTokenStore):
    """Reads the token, then deletes it, in two round trips: two claims can both win."""

    async def consume(self, token: str) -> Binding | None:
        raw = await self._redis.get(self.PREFIX + token)
        if raw is None:
            return None
        await self._redis.delete(self.PREFIX + token)
        return Binding("c-1", "a-1")


async def check_shared_single_use(first: str, second: str) -> str | None:
    """A token minted by worker A opens one socket on worker B, then none anywhere."""
    token = await mint_token(first)
    if (how := await refusal(second, token)) is not None:
        return f"the other worker refused a fresh token ({how})"
    if await refusal(second, token) is None or await refusal(first, token) is None:
        return "a used token opened a second media socket"
    return None


async def check_one_claim_wins(stores: list[RedisTokenStore]) -> str | None:
    """Of many workers consuming one token at the same moment, exactly one gets it."""
    # Connect every store first, so the claims below really do arrive together.
    await asyncio.gather(*(s.consume("warm-up") for s in stores))
    token = await stores[0].mint("c-1", "a-1")
    results = await asyncio.gather(*(s.consume(token) for s in stores))
    winners = [r for r in results if r is not None]
    if winners != [Binding("c-1", "a-1")]:
        return f"{len(winners)} of {len(stores)} simultaneous claims got the token"
    return None


async def test_workers_share_tokens_through_redis(redis_url: str) -> None:
    """Through Redis, worker B accepts worker A's token once; per-process memory stores fail."""
    env = {
        "PROXY_HOST": "bot.example",
        "BANDWIDTH_WEBHOOK_USERNAME": WEBHOOK_USER,
        "BANDWIDTH_WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
    }
    redis_env = {**env, "REDIS_URL": redis_url}
    with bot_processes(redis_env, redis_env, env, env) as (a, b, memory_a, memory_b):
        assert await check_shared_single_use(a.base_url, b.base_url) is None
        failure = await check_shared_single_use(memory_a.base_url, memory_b.base_url)
    assert failure is not None and failure.startswith("the other worker refused a fresh token")


@pytest.mark.parametrize(
    ("store", "ok"), [(RedisTokenStore, True), (GetThenDeleteTokenStore, False)]
)
async def test_simultaneous_claims_of_one_token_succeed_once(
    redis_url: str, store: type[RedisTokenStore], ok: bool
) -> None:
    """GETDEL gives the token to one of eight simultaneous claims; GET then DEL does not."""
    stores = [store(redis_url) for _ in range(8)]
    try:
        failure = await check_one_claim_wins(stores)
    finally:
        for s in stores:
            await s.aclose()
    assert (failure is None) == ok, failure
    if not ok:
        assert failure is not None and "of 8 simultaneous claims got the token" in failure


class NoExpiryTokenStore(RedisTokenStore):
    """Stores tokens without a TTL: an unclaimed token stays on the server for ever."""

    async def mint(self, call_id: str, account_id: str) -> str:
        token = new_token()
        value = json.dumps({"call_id": call_id, "account_id": account_id})
        await self._redis.set(self.PREFIX + token, value)
        return token


async def check_server_expiry(store_type: type[RedisTokenStore], url: str) -> str | None:
    """A token carries its TTL on the server, and the server drops it when it runs out."""
    store, short = store_type(url, ttl_s=60), store_type(url, ttl_s=0.001)
    try:
        token = await store.mint("c-1", "a-1")
        left_ms = await store._redis.pttl(store.PREFIX + token)
        if not 0 < left_ms <= 60_000:
            return f"a token minted with a 60 s TTL has PTTL {left_ms} on the server"
        # A 1 ms TTL: the server itself must remove the key. Waited for as an event (the
        # server's own "expired" notification for that key), bounded so a key that never
        # expires fails, rather than a sleep sized to outlast the TTL.
        await short._redis.config_set("notify-keyspace-events", "Ex")
        gone = ""
        async with short._redis.pubsub() as events:
            await events.subscribe("__keyevent@0__:expired")
            try:
                async with asyncio.timeout(10):
                    async for message in events.listen():
                        if message["type"] == "subscribe":  # listening now: mint the token
                            gone = await short.mint("c-1", "a-1")
                        elif message["data"] == (short.PREFIX + gone).encode():
                            break
            except TimeoutError:
                return "redis-server did not expire a token 10 s after its 1 ms TTL"
        if await short.consume(gone) is not None:
            return "an expired token was consumed"
        return None
    finally:
        await store.aclose()
        await short.aclose()


@pytest.mark.parametrize(("store", "ok"), [(RedisTokenStore, True), (NoExpiryTokenStore, False)])
async def test_redis_tokens_expire_on_the_server(
    redis_url: str, store: type[RedisTokenStore], ok: bool
) -> None:
    """Tokens expire on redis-server by their TTL, no sweeper; a store setting no TTL fails."""
    failure = await check_server_expiry(store, redis_url)
    assert (failure is None) == ok, failure
    if not ok:
        assert failure is not None and "PTTL -1" in failure
