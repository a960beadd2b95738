"""The guide's call webhook, as the small test bots that follow it answer it.

Basic Auth checked against the environment's webhook credentials (401 with the
challenge otherwise), a one-time token bound to the webhook's ``(callId, accountId)``,
and ``<StartStream>`` to ``wss://$PROXY_HOST/ws/{token}`` held up by ``<Pause>``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets

from fastapi import HTTPException, Request
from fastapi.responses import Response

__all__ = ["answer_webhook"]


async def answer_webhook(request: Request, tokens: dict[str, tuple[str, str]]) -> Response:
    """Authenticate the webhook, mint a token for its call into ``tokens``, answer BXML."""
    user = os.environ["BANDWIDTH_WEBHOOK_USERNAME"]
    password = os.environ["BANDWIDTH_WEBHOOK_PASSWORD"]
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if not secrets.compare_digest(request.headers.get("authorization", ""), expected):
        raise HTTPException(401, headers={"WWW-Authenticate": "Basic"})
    body = json.loads(await request.body())
    token = secrets.token_urlsafe(32)
    tokens[token] = (body["callId"], body["accountId"])
    bxml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<StartStream destination="wss://{os.environ["PROXY_HOST"]}/ws/{token}" '
        'mode="bidirectional" tracks="inbound"/><Pause duration="86400"/></Response>'
    )
    return Response(bxml, media_type="application/xml")
