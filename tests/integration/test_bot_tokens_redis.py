"""Several bot workers sharing a real redis-server: a token minted by one is good once, anywhere.

The workers are ``python -m bot`` processes with the same ``REDIS_URL``; redis-server
listens on a Unix socket in ``tmp_path`` (nothing leaves the machine, no port to pick).
Each check is also run against a copy that gets it wrong: workers with per-process
memory stores, and a Redis store that reads and deletes in two steps.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tokens import Binding, RedisTokenStore
from tests.integration.bandwidth_client import WEBHOOK_PASSWORD, WEBHOOK_USER, mint_token, refusal
from tests.integration.bot_process import OutputWatcher, bot_processes, stop


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server on a Unix socket (skips, or fails with BWSIM_REQUIRE_REDIS=1)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("BWSIM_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is required (BWSIM_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server is not installed (nox installs it when it can)")
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
        assert await check_shared_single_use(memory_a.base_url, memory_b.base_url) is not None


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


async def test_redis_tokens_expire_on_the_server(redis_url: str) -> None:
    """A Redis-stored token is gone after its TTL, with no sweeper."""
    store = RedisTokenStore(redis_url, ttl_s=0.1)
    try:
        token = await store.mint("c-1", "a-1")
        await asyncio.sleep(0.3)  # the TTL passing is the point here
        assert await store.consume(token) is None
    finally:
        await store.aclose()
