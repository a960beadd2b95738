"""``bwsim record --voice-api URL --oauth-url URL``: the bot's Voice API requests recorded too.

The recorder also stands in front of Bandwidth's REST side. The bot is configured with
the recorder's own paths (``BANDWIDTH_VOICE_API_URL=http://RECORDER/_bwsim/voice-api`` and
``BANDWIDTH_OAUTH_URL=http://RECORDER/_bwsim/oauth``); each request is forwarded
upstream (``--voice-api`` + the rest of the path, or ``--oauth-url``) with its headers
and body as they came, and the answer goes back as it came. A request naming a call being
recorded (``…/calls/CALL_ID…``) is kept in that call's archive as an
:class:`~simulator.archive.model.ApiRecord` (``voice_api``): that is how a replay knows
who hung up. Token requests are forwarded and never stored, and no token, client
secret or password is kept in what is (``simulator/protocol/redact.py``).
"""

from __future__ import annotations

import re
import time
from typing import Final

import httpx

from simulator.archive.model import ApiRecord
from simulator.record.capture import Captures
from simulator.rest.relay import Scope, Send, forwarded, plain, relay

__all__ = ["OAUTH_PATH", "VOICE_API_PREFIX", "ApiCapture"]

VOICE_API_PREFIX: Final = "/_bwsim/voice-api"
"""The recorder's path for the Voice API: give the bot ``http://RECORDER/_bwsim/voice-api``."""
OAUTH_PATH: Final = "/_bwsim/oauth"
"""The recorder's path for the token route: give the bot ``http://RECORDER/_bwsim/oauth``."""
_CALL_IN_PATH = re.compile(r"/calls/([^/?#]+)")


class ApiCapture:
    """Forward the bot's Voice API and token requests upstream; record the calls' ones."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        captures: Captures,
        voice_api: str | None,
        oauth_url: str | None,
    ) -> None:
        self.client = client
        self.captures = captures
        self.voice_api = voice_api.rstrip("/") if voice_api else None
        self.oauth_url = oauth_url
        captures.voice_api = self.voice_api is not None

    def claims(self, path: str) -> bool:
        """Whether ``path`` is one of the recorder's REST routes (not a webhook)."""
        return path in {OAUTH_PATH, VOICE_API_PREFIX} or path.startswith(VOICE_API_PREFIX + "/")

    async def forward(
        self,
        scope: Scope,
        send: Send,
        *,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        arrived: float,
    ) -> None:
        """Forward one request upstream, answer the bot, and record it with its call."""
        if target.partition("?")[0] == OAUTH_PATH:
            upstream, query = self.oauth_url, target.partition("?")[2]
            if upstream and query:
                upstream += ("&" if "?" in upstream else "?") + query
        else:
            rest = target[len(VOICE_API_PREFIX) :]
            upstream = self.voice_api + rest if self.voice_api else None
        if upstream is None:
            option = "--oauth-url" if target.startswith(OAUTH_PATH) else "--voice-api"
            await plain(
                send, 404, f"bwsim record: started without {option}: nothing to forward to\n"
            )
            return
        method = str(scope["method"])
        try:
            answer = await self.client.request(
                method, upstream, content=body, headers=forwarded(headers)
            )
        except httpx.HTTPError as exc:
            error = f"bwsim record: {upstream} did not answer: {type(exc).__name__}: {exc}\n"
            await plain(send, 502, error)
            self._record(target, method, body, status=None, answer=error, at=arrived)
            return
        await relay(send, answer)
        if not target.startswith(OAUTH_PATH):
            self._record(
                target, method, body, status=answer.status_code, answer=answer.text, at=arrived
            )

    def _record(
        self,
        target: str,
        method: str,
        body: bytes,
        *,
        status: int | None,
        answer: str,
        at: float,
    ) -> None:
        match = _CALL_IN_PATH.search(target)
        call = self.captures.calls.get(match[1]) if match else None
        if call is None or call.archive.voice_api is None:
            return  # a request for no call being recorded (or a token request)
        call.archive.voice_api.append(
            ApiRecord(
                at_ms=call.ms(at),
                method=method,
                path=call.clean(target[len(VOICE_API_PREFIX) :]),
                body=call.clean(body.decode("utf-8", errors="replace")),
                status=status,
                answer=call.clean(answer),
            )
        )
        call.touch(call.ms(time.monotonic()))
