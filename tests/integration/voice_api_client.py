"""The fake Voice API as a bot reaches it: for tests that act as the bot themselves."""

from __future__ import annotations

import httpx

from simulator.runner.harness import Harness


async def bot_api(harness: Harness) -> tuple[httpx.AsyncClient, dict[str, str]]:
    """A client on the harness's fake Voice API and a Bearer header from its OAuth endpoint."""
    account = harness.fake.default_account
    async with httpx.AsyncClient(base_url=harness.api_base) as client:
        token = await client.post(
            "/api/v1/oauth2/token",
            auth=(account.client_id, account.client_secret),
            data={"grant_type": "client_credentials"},
        )
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.AsyncClient(base_url=harness.api_base), bearer
