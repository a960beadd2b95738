"""The bot's own Voice API calls (hang-up, transfer), with an OAuth token it caches."""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

import httpx
from loguru import logger

from bot.config import Settings
from bot.tokens import Binding

TRANSFER_BXML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Bxml><Transfer><PhoneNumber>{number}</PhoneNumber></Transfer></Bxml>"
)


class VoiceApi:
    """Hang up or transfer the trusted call through Bandwidth's Voice API (httpx)."""

    def __init__(self, settings: Settings, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._token: str | None = None
        self._expires = 0.0

    async def _bearer(self, client: httpx.AsyncClient) -> str:
        if self._token is None or time.monotonic() > self._expires - 60:
            r = await client.post(
                self.settings.oauth_url,
                auth=(self.settings.client_id, self.settings.client_secret),
                data={"grant_type": "client_credentials"},
            )
            r.raise_for_status()
            body = r.json()
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + float(body.get("expires_in", 3600))
        return self._token

    def _call_url(self, call: Binding) -> str:
        return f"{self.settings.voice_api_url}/accounts/{call.account_id}/calls/{call.call_id}"

    async def hang_up(self, call: Binding) -> int | None:
        """Complete the call; a 404 (already gone: hung up or transferred) is expected."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                headers = {"Authorization": f"Bearer {await self._bearer(client)}"}
                r = await client.post(
                    self._call_url(call), json={"state": "completed"}, headers=headers
                )
        except httpx.HTTPError as exc:
            logger.warning(f"hang-up of {call.call_id} failed: {exc!r}")
            return None
        if r.status_code == 404:
            logger.debug(f"hang-up of {call.call_id}: 404, the call had already ended")
        elif r.is_error:
            logger.warning(f"hang-up of {call.call_id}: HTTP {r.status_code} {r.text[:200]}")
        return r.status_code

    async def transfer(self, call: Binding) -> int | None:
        """Hand the caller to ``HUMAN_AGENT_NUMBER`` with ``PUT …/bxml``."""
        number = escape(self.settings.human_agent_number)
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                headers = {
                    "Authorization": f"Bearer {await self._bearer(client)}",
                    "Content-Type": "application/xml",
                }
                r = await client.put(
                    self._call_url(call) + "/bxml",
                    content=TRANSFER_BXML.format(number=number),
                    headers=headers,
                )
        except httpx.HTTPError as exc:
            logger.warning(f"transfer of {call.call_id} failed: {exc!r}")
            return None
        if r.is_error:
            logger.warning(f"transfer of {call.call_id}: HTTP {r.status_code} {r.text[:200]}")
        return r.status_code
