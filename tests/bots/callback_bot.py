"""A bot whose BXML asks for the webhooks after ``initiate``, recording each request whole.

Every request to ``/rec/{name}``, ``/fail/{name}`` and ``/auth/{name}`` is kept in
:data:`SEEN` as method, query, raw body and ``Authorization``, so tests assert exactly
what bwsim sent. The ``initiate`` webhook picks the flow by its path:

- ``POST /get-flow``: ``<Redirect redirectMethod="GET" tag="t-redirect">`` to
  ``/rec/redirect``, whose answer sets ``<Tag>t-tagverb</Tag>`` and starts a stream whose
  events go to ``/rec/stream`` with ``streamEventMethod="GET"``, then pauses;
- ``POST /fallback-flow``: ``<Redirect>`` to ``/fail/redirect`` (always 503) with
  ``redirectFallbackUrl="/auth/fallback"`` (GET, Basic ``fb-user``/``fb-pass``), whose
  answer hangs up;
- ``POST /bad-bxml``: BXML bwsim refuses (the call ends ``invalid-bxml``).

``/rec/*`` answers 200 with BXML that hangs up (``redirect`` gets the stream document);
``/fail/*`` answers 503; ``/auth/*`` answers 401 with ``WWW-Authenticate: Basic`` until
it gets the fallback or the application's credentials. ``/ws`` reads until ``stop`` and closes.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

SEEN: list[dict[str, Any]] = []
"""Every request after ``initiate``: ``{kind, name, method, query, body, authorization}``."""

FALLBACK_AUTH = "Basic " + base64.b64encode(b"fb-user:fb-pass").decode()
APP_AUTH = "Basic " + base64.b64encode(b"app-user:app-pass").decode()
"""The application's webhook credentials (``CallbackCreds``) the tests configure."""

app = FastAPI()

_XML = '<?xml version="1.0" encoding="UTF-8"?><Response>{}</Response>'
HANGUP = _XML.format("<Hangup/>")
STREAM_DOC = _XML.format(
    "<Tag>t-tagverb</Tag>"
    '<StartStream name="s" destination="wss://bot.example/ws" streamEventUrl="/rec/stream" '
    'streamEventMethod="GET"/><Pause duration="86400"/>'
)


def _bxml(text: str) -> Response:
    return Response(text, media_type="application/xml")


async def _record(kind: str, name: str, request: Request) -> None:
    SEEN.append(
        {
            "kind": kind,
            "name": name,
            "method": request.method,
            "query": dict(request.query_params),
            "body": (await request.body()).decode(),
            "authorization": request.headers.get("authorization"),
        }
    )


@app.post("/get-flow")
async def get_flow() -> Response:
    return _bxml(
        _XML.format('<Redirect redirectUrl="/rec/redirect" redirectMethod="GET" tag="t-redirect"/>')
    )


@app.post("/fallback-flow")
async def fallback_flow() -> Response:
    return _bxml(
        _XML.format(
            '<Redirect redirectUrl="/fail/redirect" redirectFallbackUrl="/auth/fallback" '
            'redirectFallbackMethod="GET" fallbackUsername="fb-user" fallbackPassword="fb-pass"/>'
        )
    )


@app.post("/bad-bxml")
async def bad_bxml() -> Response:
    return _bxml(_XML.format('<Pause duration="forever"/>'))


@app.api_route("/rec/{name}", methods=["GET", "POST"])
async def rec(name: str, request: Request) -> Response:
    await _record("rec", name, request)
    if name == "redirect":
        return _bxml(STREAM_DOC)
    if name in ("stream", "status"):
        return Response(status_code=204)
    return _bxml(HANGUP)


@app.api_route("/fail/{name}", methods=["GET", "POST"])
async def fail(name: str, request: Request) -> Response:
    await _record("fail", name, request)
    return Response("down for maintenance", status_code=503)


@app.api_route("/auth/{name}", methods=["GET", "POST"])
async def auth(name: str, request: Request) -> Response:
    await _record("auth", name, request)
    if request.headers.get("authorization") not in (FALLBACK_AUTH, APP_AUTH):
        return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="bot"'})
    return _bxml(HANGUP)


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive_json()
            if message.get("eventType") == "stop":
                await websocket.close(code=1000)
                return
    except WebSocketDisconnect:
        return
