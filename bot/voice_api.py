"""The bot's own Voice API calls (hang-up, transfer), over httpx, with a cached OAuth token.

Both act on a :class:`~bot.tokens.Binding`: ids from the authenticated webhook, never from
the media stream or the LLM. Neither raises: a failure is logged and reported as a
``None`` or error status, since they run while a call is being torn down.
"""

from __future__ import annotations

import asyncio
import json
import time
from xml.sax.saxutils import escape

import httpx
from loguru import logger

from bot.config import Settings
from bot.tokens import Binding

TRANSFER_BXML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Bxml><Transfer transferCompleteUrl="{complete}" username="{user}" password="{password}">'
    "<PhoneNumber>{number}</PhoneNumber></Transfer></Bxml>"
)
"""The transfer: to the agent, with ``transferCompleteUrl`` so a busy or unanswered agent
brings the caller back to the bot (``POST /transfer-complete``, Basic-authenticated with
the webhook credentials) instead of ending the call unheard."""
TRANSFER_COMPLETE_PATH = "/transfer-complete"
TOKEN_EARLY_S = 60.0
"""A cached token is renewed this long before it expires."""


class VoiceApi:
    """Hang up or transfer a trusted call through Bandwidth's Voice API."""

    def __init__(self, settings: Settings, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _bearer(self, client: httpx.AsyncClient) -> str:
        """A client-credentials access token, fetched once and reused until near expiry."""
        async with self._lock:
            if self._token is None or time.monotonic() > self._expires - TOKEN_EARLY_S:
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

    async def _request(
        self, what: str, call: Binding, method: str, url: str, *, body: str, content_type: str
    ) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                headers = {
                    "Authorization": f"Bearer {await self._bearer(client)}",
                    "Content-Type": content_type,
                }
                return await client.request(method, url, content=body, headers=headers)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            # ValueError/KeyError/TypeError: an OAuth answer that is not the JSON expected.
            logger.warning(f"{what} of call {call.call_id} failed: {exc!r}")
            return None

    async def hang_up(self, call: Binding) -> int | None:
        """Complete the call; a 404 (already gone: hung up or transferred) is expected."""
        body = json.dumps({"state": "completed"})
        r = await self._request(
            "hang-up",
            call,
            "POST",
            self._call_url(call),
            body=body,
            content_type="application/json",
        )
        if r is None:
            return None
        if r.status_code == 404:
            logger.debug(f"hang-up of call {call.call_id}: 404, the call had already ended")
        elif r.is_error:
            logger.warning(f"hang-up of call {call.call_id}: HTTP {r.status_code} {r.text[:200]}")
        else:
            logger.info(f"hung up call {call.call_id}")
        return r.status_code

    async def transfer(self, call: Binding) -> int | None:
        """Hand the caller to ``HUMAN_AGENT_NUMBER`` with ``PUT …/calls/{callId}/bxml``."""
        settings = self.settings
        attribute = {'"': "&quot;"}
        body = TRANSFER_BXML.format(
            number=escape(settings.human_agent_number),
            complete=escape(f"https://{settings.proxy_host}{TRANSFER_COMPLETE_PATH}", attribute),
            user=escape(settings.webhook_username, attribute),
            password=escape(settings.webhook_password, attribute),
        )
        r = await self._request(
            "transfer",
            call,
            "PUT",
            self._call_url(call) + "/bxml",
            body=body,
            content_type="application/xml",
        )
        if r is None:
            return None
        if r.is_error:
            logger.warning(f"transfer of call {call.call_id}: HTTP {r.status_code} {r.text[:200]}")
        else:
            logger.info(f"call {call.call_id} transferred to {self.settings.human_agent_number}")
        return r.status_code
