"""A bot behind a signing gateway: it checks bwsim's signing extension on its webhook.

Bandwidth signs no voice webhook (docs/bandwidth.md §2.8); this bot stands for one that
sits behind a gateway which does, with the timestamped scheme of
:mod:`simulator.protocol.webhook_signing`: the header ``x-signature`` carries the hex
HMAC-SHA512 of ``f"{timestamp}.".encode() + body`` keyed with ``$SIGNING_BOT_SECRET``, and
``x-signature-timestamp`` the Unix time it was signed.

- ``POST /voice`` answers ``401`` ``missing signature`` without the signature header,
  ``403`` ``bad signature`` when the HMAC does not match, ``403`` ``stale timestamp`` when
  the timestamp is more than :data:`TOLERANCE_S` seconds away from now, and a one-second
  ``<Pause>`` (then Bandwidth hangs up) to a good one.
- ``POST /plain`` checks nothing and answers the same ``<Pause>``: a bot for plain
  Bandwidth.

Serve with ``AppTarget("tests.bots.signing_bot:app")`` and ``SIGNING_BOT_SECRET`` set (a
scenario's ``bot_env``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-signature-timestamp"
TOLERANCE_S = 300
"""How far from now a signed timestamp may be (Stripe's and Slack's five minutes)."""

ANSWER = '<?xml version="1.0" encoding="UTF-8"?><Response><Pause duration="1"/></Response>'

app = FastAPI()


def _refusal(body: bytes, signature: str | None, stamp: str | None) -> tuple[int, str] | None:
    """Why the webhook is refused (status and reason), or None when it is signed well."""
    if signature is None:
        return 401, "missing signature"
    if stamp is None or not stamp.isdigit():
        return 401, "missing timestamp"
    secret = os.environ["SIGNING_BOT_SECRET"].encode()
    expected = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return 403, "bad signature"
    if abs(time.time() - int(stamp)) > TOLERANCE_S:
        return 403, "stale timestamp"
    return None


@app.post("/voice")
async def voice(request: Request) -> Response:
    """The call webhook, behind the signature check."""
    body = await request.body()
    refused = _refusal(
        body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
    )
    if refused is not None:
        return PlainTextResponse(refused[1], status_code=refused[0])
    return Response(ANSWER, media_type="application/xml")


@app.post("/plain")
async def plain() -> Response:
    """The call webhook of a bot for plain Bandwidth: no signature is checked."""
    return Response(ANSWER, media_type="application/xml")
