"""A bot that reaches a URL with the client library it is told to use, and says what happened.

``POST /probe`` with ``{"client": NAME, "url": URL}`` makes one request to ``URL`` with
that client, from inside the bot process (where bwsim's interception is installed):

- ``bandwidth-sdk``: Bandwidth's own SDK (urllib3 underneath). For a
  ``https://voice.bandwidth.com/api/v2/accounts/A/calls/C`` URL it fetches call ``C``'s
  state the SDK's way (OAuth token from ``api.bandwidth.com``, then the Voice API); for
  any other URL it asks that URL for its OAuth token (``access_token_url``).
- ``urllib3``, ``requests``, ``httpx``, ``aiohttp``: one ``GET``.
- ``websockets``: opens a websocket (``https``/``http`` URLs become ``wss``/``ws``).
- ``asyncio``: ``asyncio.open_connection`` (TLS for ``https``) and a hand-written
  ``GET``.

The answer is ``{"ok": true, "status": …}`` or ``{"ok": false, "errors": [[class names of
each exception in the chain, most derived first], …], "message": …}``, and always
``"loop"``: the class of the running event loop.

Run ``python -m tests.bots.client_bot --loop uvloop`` (or ``--loop asyncio``); it
serves on ``$PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import requests
import urllib3
import uvicorn
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ApiException
from fastapi import FastAPI
from pydantic import BaseModel
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

TIMEOUT_S = 10


def _sdk_config(token_url: str | None = None) -> Configuration:
    return Configuration(
        client_id=os.environ["BANDWIDTH_CLIENT_ID"],
        client_secret=os.environ["BANDWIDTH_CLIENT_SECRET"],
        access_token_url=token_url,
    )


def _sdk(url: str) -> int:
    parts = urlsplit(url)
    if parts.hostname == "voice.bandwidth.com":
        segments = parts.path.strip("/").split("/")  # api v2 accounts A calls C
        account_id, call_id = segments[3], segments[5]
        config = _sdk_config()
    else:
        account_id, call_id = "9900000", "c-never-reached"
        config = _sdk_config(url)
    api = CallsApi(ApiClient(config))
    try:
        api.get_call_state(account_id, call_id)
    except ApiException as exc:
        return int(exc.status)
    return 200


def _urllib3(url: str) -> int:
    return urllib3.PoolManager().request("GET", url, retries=False, timeout=TIMEOUT_S).status


def _requests(url: str) -> int:
    return requests.get(url, timeout=TIMEOUT_S).status_code


async def _httpx(url: str) -> int:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        return (await client.get(url)).status_code


async def _aiohttp(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def _websockets(url: str) -> int:
    ws_url = url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    try:
        async with connect(ws_url, open_timeout=TIMEOUT_S):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def _asyncio(url: str) -> int:
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    reader, writer = await asyncio.open_connection(host, port, ssl=True if tls else None)
    try:
        request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


def _in_thread(fn: Callable[[str], int]) -> Callable[[str], Awaitable[int]]:
    async def run(url: str) -> int:
        return await asyncio.to_thread(fn, url)

    return run


CLIENTS: dict[str, Callable[[str], Awaitable[int]]] = {
    "bandwidth-sdk": _in_thread(_sdk),
    "urllib3": _in_thread(_urllib3),
    "requests": _in_thread(_requests),
    "httpx": _httpx,
    "aiohttp": _aiohttp,
    "websockets": _websockets,
    "asyncio": _asyncio,
}


def _chain(exc: BaseException) -> list[list[str]]:
    """Class names (most derived first) of ``exc`` and the exceptions behind it."""
    out: list[list[str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.append([cls.__name__ for cls in type(current).__mro__])
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError
        if isinstance(reason, BaseException):
            current = reason
        else:
            current = current.__cause__ or current.__context__
    return out


class Probe(BaseModel):
    """What to reach, and with which client."""

    client: str
    url: str


app = FastAPI()


@app.post("/probe")
async def probe(body: Probe) -> dict[str, Any]:
    """Reach ``body.url`` with ``body.client``; report the status or the errors."""
    loop = type(asyncio.get_running_loop())
    answer: dict[str, Any] = {"loop": f"{loop.__module__}.{loop.__qualname__}"}
    try:
        answer["status"] = await CLIENTS[body.client](body.url)
        answer["ok"] = True
    except Exception as exc:  # the test wants to see every failure
        answer.update(ok=False, errors=_chain(exc), message=str(exc))
    return answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        log_level="warning",
        loop=args.loop,
    )
