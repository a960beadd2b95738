"""A voice bot without Pipecat, written from Bandwidth's documents: the audit's second bot.

It shares no code with the reference bot and makes different (valid) choices, so the
audit can be shown to judge what Bandwidth requires rather than how ``bot/`` is written:

- webhook ``POST /``: Basic auth with the challenge (401 + ``WWW-Authenticate``), 503 when
  no webhook credentials are set, strict body validation, and a ``<Bxml>`` answer whose
  ``<StartStream>`` carries its one-time token in the **query** (``/media?session=…``),
  per-token ``destinationUsername``/``destinationPassword`` checked on the upgrade, and
  ``<StopStream wait="true"/>`` (not ``<Pause>``) as the keep-alive;
- the socket speaks in synthetic tone "syllables" sent as 16 kHz PCM in 20 ms frames,
  paced in real time, and listens with an energy detector: talked over, it sends
  ``clear`` and stops; after each caller turn it looks the caller's line up in bwsim's
  control API (its "STT") and replies, transfers (``PUT …/bxml``) or says goodbye and
  hangs up; it hangs its call up when the stream ends for any reason, except after a
  transfer, and when the caller has been silent for ``SPEAKER_IDLE_S``;
- its Voice API calls go through httpx to the hard-coded production URLs, which bwsim
  routes to its fake.

``SPEAKER_FLAW`` names one deliberate mistake (see :data:`FLAWS`, each with the audit
check that must catch it). ``SPEAKER_REFUSE=after-accept`` refuses a bad token by
accepting the socket and closing it with 1008, instead of closing before accepting (which
uvicorn answers with HTTP 403). Serve with ``--app tests.bots.speaker_bot:app``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import time
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import cast

import httpx
import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from simulator.protocol.codec import ulaw_decode

FLAWS = {
    "any-scheme": "webhook.auth",
    "open-when-unconfigured": "webhook.creds_unset",
    "crash-on-bad-body": "webhook.bad_body",
    "no-keepalive": "bxml.stream",
    "call-derived-token": "token.fresh",
    "reusable-tokens": "ws.token_reuse",
    "start-ids": "spoof.start_ids",
    "current-call-global": "spoof.interleaved_webhooks",
    "late-greeting": "audio.greeting",
    "no-clear": "audio.clear_on_barge_in",
    "clear-keeps-talking": "audio.clear_on_barge_in",
    "bad-frame": "audio.valid_output",
    "no-hangup-on-drop": "hangup.on_stream_loss",
    "single-session": "hangup.caller_left",
    "no-idle-hangup": "hangup.on_silence",
    "response-root-transfer": "transfer.request",
    "retries-404": "transfer.after",
    "adopts-second-start": "fuzz.start_metadata",
    "one-wire-form": "ws.wire_forms",
}
"""Each deliberate mistake, and the audit check that must catch it."""

# Hard-coded as real bots do (bwsim routes them to its fake); a bot started by hand for
# ``--url`` is pointed at the fake with the same variables the reference bot reads.
OAUTH_URL = os.environ.get("BANDWIDTH_OAUTH_URL") or "https://api.bandwidth.com/api/v1/oauth2/token"
VOICE_URL = os.environ.get("BANDWIDTH_VOICE_API_URL") or "https://voice.bandwidth.com/api/v2"
UNRESERVED = re.compile(r"[A-Za-z0-9._~-]{1,128}")
PCM16 = "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed"
RATE = 16000
FRAME_BYTES = RATE * 2 // 50  # 20 ms of 16-bit samples
SPEECH_RMS, SILENCE_RMS = 600.0, 300.0
START_FRAMES, END_FRAMES = 3, 30  # 60 ms of speech starts a turn; 600 ms of silence ends it


@dataclass
class Config:
    proxy_host: str
    webhook_user: str
    webhook_password: str
    client_id: str
    client_secret: str
    agent: str
    control: str
    token_ttl_s: float
    idle_s: float
    flaw: str
    refuse_after_accept: bool

    @classmethod
    def from_env(cls) -> Config:
        flaw = os.environ.get("SPEAKER_FLAW", "")
        if flaw and flaw not in FLAWS:
            raise SystemExit(f"SPEAKER_FLAW={flaw!r} is not one of {sorted(FLAWS)}")
        return cls(
            proxy_host=os.environ.get("PROXY_HOST", "localhost"),
            webhook_user=os.environ.get("BANDWIDTH_WEBHOOK_USERNAME", ""),
            webhook_password=os.environ.get("BANDWIDTH_WEBHOOK_PASSWORD", ""),
            client_id=os.environ.get("BANDWIDTH_CLIENT_ID", ""),
            client_secret=os.environ.get("BANDWIDTH_CLIENT_SECRET", ""),
            agent=os.environ.get("HUMAN_AGENT_NUMBER", "+19195550123"),
            control=os.environ.get("BWSIM_CONTROL_URL", "").rstrip("/"),
            token_ttl_s=float(os.environ.get("BOT_TOKEN_TTL_S", "60")),
            idle_s=float(os.environ.get("SPEAKER_IDLE_S", "300")),
            flaw=flaw,
            refuse_after_accept=os.environ.get("SPEAKER_REFUSE") == "after-accept",
        )


@dataclass
class Pending:
    call_id: str
    account_id: str
    expires: float
    ws_password: str


@dataclass
class State:
    config: Config
    tokens: dict[str, Pending] = field(default_factory=dict)
    current: tuple[str, str] | None = None  # the flawed "current call" global
    busy: bool = False  # the single-session flaw
    api_token: str | None = None
    api_expires: float = 0.0


def _encoding(meta: object) -> object:
    """The first track's ``mediaFormat.encoding`` of a ``start`` frame's metadata."""
    tracks = meta.get("tracks") if isinstance(meta, dict) else None
    track = tracks[0] if isinstance(tracks, list) and tracks else None
    media = track.get("mediaFormat") if isinstance(track, dict) else None
    return media.get("encoding") if isinstance(media, dict) else None


def syllables(seconds: float, seed: int) -> bytes:
    """Speech-like audio: tone bursts of varying pitch with short gaps, 16 kHz s16le."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    total = int(seconds * RATE)
    while sum(len(x) for x in out) < total:
        n = int(RATE * rng.uniform(0.12, 0.22))
        t = np.arange(n) / RATE
        tone = np.sin(2 * np.pi * rng.uniform(140, 320) * t) * np.hanning(n) * 9000
        out += [tone, np.zeros(int(RATE * 0.04))]
    return np.concatenate(out)[:total].astype("<i2").tobytes()


GREETING = syllables(2.5, 1)
REPLY = syllables(1.5, 2)
TRANSFER_LINE = syllables(1.5, 3)
FAREWELL = syllables(1.0, 4)


def play_frame(pcm: bytes, content_type: str = PCM16) -> str:
    media = {"contentType": content_type, "payload": base64.b64encode(pcm).decode()}
    return json.dumps({"eventType": "playAudio", "media": media})


def _basic_ok(cfg: Config, header: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" and cfg.flaw != "any-scheme":
        return False
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    ok_user = secrets.compare_digest(user.encode(), cfg.webhook_user.encode())
    ok_password = secrets.compare_digest(password.encode(), cfg.webhook_password.encode())
    return bool(sep) and ok_user and ok_password


class VoiceApi:
    def __init__(self, state: State) -> None:
        self.state = state

    async def _bearer(self, client: httpx.AsyncClient) -> str:
        st = self.state
        if st.api_token is None or time.monotonic() > st.api_expires:
            r = await client.post(
                OAUTH_URL,
                auth=(st.config.client_id, st.config.client_secret),
                data={"grant_type": "client_credentials"},
            )
            r.raise_for_status()
            st.api_token = r.json()["access_token"]
            st.api_expires = time.monotonic() + float(r.json().get("expires_in", 3600)) - 60
        return st.api_token

    async def request(self, method: str, path: str, body: str, content_type: str) -> int | None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                headers = {
                    "Authorization": f"Bearer {await self._bearer(client)}",
                    "Content-Type": content_type,
                }
                r = await client.request(method, VOICE_URL + path, content=body, headers=headers)
                return r.status_code
        except httpx.HTTPError:
            return None

    async def hang_up(self, call: tuple[str, str]) -> int | None:
        call_id, account_id = call
        body = json.dumps({"state": "completed"})
        return await self.request(
            "POST", f"/accounts/{account_id}/calls/{call_id}", body, "application/json"
        )

    async def transfer(self, call: tuple[str, str]) -> int | None:
        call_id, account_id = call
        root = "Response" if self.state.config.flaw == "response-root-transfer" else "Bxml"
        bxml = (
            f'<?xml version="1.0" encoding="UTF-8"?><{root}><Transfer>'
            f"<PhoneNumber>{self.state.config.agent}</PhoneNumber></Transfer></{root}>"
        )
        return await self.request(
            "PUT", f"/accounts/{account_id}/calls/{call_id}/bxml", bxml, "application/xml"
        )


async def caller_lines(cfg: Config, call_id: str) -> list[str]:
    """The speech-to-text stand-in: bwsim tells what the caller says, turn by turn."""
    if not cfg.control:
        return []
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            r = await client.get(
                f"{cfg.control}/calls/{call_id}/caller-lines",
                headers={"Authorization": f"Bearer {os.environ.get('BWSIM_CONTROL_TOKEN', '')}"},
            )
            lines = r.json().get("lines", [])
    except (httpx.HTTPError, ValueError):
        return []
    return [line for line in lines if isinstance(line, str)]


class Session:
    """One media socket: speak, listen, act on the caller's turns."""

    def __init__(self, state: State, ws: WebSocket, trusted: tuple[str, str]) -> None:
        self.state = state
        self.cfg = state.config
        self.ws = ws
        self.trusted = trusted
        self.call = trusted
        self.api = VoiceApi(state)
        self.lines: list[str] = []
        self.speaking: asyncio.Task[None] | None = None
        self.loud = self.quiet = 0
        self.in_turn = False
        self.last_activity = time.monotonic()
        self.transferred = self.hung_up = self.stopped = False
        self.transfer: asyncio.Task[int | None] | None = None

    def acting_on(self) -> tuple[str, str]:
        if self.cfg.flaw == "current-call-global" and self.state.current is not None:
            return self.state.current
        return self.call

    async def _play(self, pcm: bytes) -> None:
        started = time.monotonic()
        try:
            for i, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
                delay = started + i * 0.02 - 0.06 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.ws.send_text(play_frame(pcm[offset : offset + FRAME_BYTES]))
            await asyncio.sleep(max(0.0, started + len(pcm) / (2 * RATE) - time.monotonic()))
        finally:
            self.last_activity = time.monotonic()

    def say(self, pcm: bytes) -> asyncio.Task[None]:
        self.speaking = asyncio.create_task(self._play(pcm))
        return self.speaking

    @property
    def talking(self) -> bool:
        return self.speaking is not None and not self.speaking.done()

    async def greet(self) -> None:
        if self.cfg.flaw == "late-greeting":
            await asyncio.sleep(5.0)
        await self.say(GREETING)
        if self.cfg.flaw == "bad-frame":
            rate44 = PCM16.replace("16000", "44100")
            await self.ws.send_text(play_frame(b"\x00\x01" * 441, rate44))

    async def barge_in(self) -> None:
        if not self.talking:
            return
        if self.cfg.flaw != "no-clear":
            await self.ws.send_text(json.dumps({"eventType": "clear"}))
        if self.cfg.flaw not in ("no-clear", "clear-keeps-talking") and self.speaking:
            self.speaking.cancel()

    async def end_of_turn(self) -> None:
        line = self.lines.pop(0) if self.lines else ""
        if re.search(r"\b(person|human|agent)\b", line, re.IGNORECASE):
            await self.say(TRANSFER_LINE)
            self.transfer = asyncio.create_task(self.api.transfer(self.acting_on()))
            status = await self.transfer
            self.transferred = status is not None and status < 300
        elif re.search(r"\bbye\b|goodbye", line, re.IGNORECASE):
            await self.say(FAREWELL)
            self.hung_up = True
            await self.api.hang_up(self.acting_on())
            with suppress(RuntimeError):
                await self.ws.close(1000)
        else:
            self.say(REPLY)

    async def hear(self, payload: str) -> None:
        try:
            samples = ulaw_decode(base64.b64decode(payload, validate=True)).astype(np.float64)
        except (binascii.Error, ValueError):
            return
        rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
        self.loud = self.loud + 1 if rms > SPEECH_RMS else 0
        self.quiet = self.quiet + 1 if rms < SILENCE_RMS else 0
        if not self.in_turn and self.loud >= START_FRAMES:
            self.in_turn = True
            self.last_activity = time.monotonic()
            await self.barge_in()
        elif self.in_turn and self.quiet >= END_FRAMES:
            self.in_turn = False
            self.last_activity = time.monotonic()
            asyncio.create_task(self.end_of_turn())  # noqa: RUF006 - bounded by the socket

    async def run(self) -> None:
        self.lines = await caller_lines(self.cfg, self.trusted[0])
        greeting = asyncio.create_task(self.greet())
        try:
            while not self.stopped:
                try:
                    message = await asyncio.wait_for(self.ws.receive(), 0.5)
                except TimeoutError:
                    message = {}
                if message.get("type") == "websocket.disconnect":
                    return
                if isinstance(message.get("text"), str):
                    await self.frame(message["text"])
                idle = time.monotonic() - self.last_activity
                quiet = not self.talking and not self.in_turn
                if idle > self.cfg.idle_s and quiet and self.cfg.flaw != "no-idle-hangup":
                    self.hung_up = True
                    await self.api.hang_up(self.acting_on())
                    await self.ws.close(1000)
                    return
        finally:
            greeting.cancel()
            if self.speaking is not None:
                self.speaking.cancel()

    async def frame(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        event = message.get("eventType")
        if event == "media" and isinstance(message.get("payload"), str):
            await self.hear(message["payload"])
        elif event == "stop":
            self.stopped = True
        elif event == "start" and self.cfg.flaw == "adopts-second-start":
            meta = message.get("metadata")
            if isinstance(meta, dict):
                cid, acct = meta.get("callId"), meta.get("accountId")
                if isinstance(cid, str) and isinstance(acct, str):
                    self.call = (cid, acct)

    async def finish(self) -> None:
        """The stream is over: hang the call up unless it was handed on or already ended."""
        if self.transfer is not None:
            # Bandwidth stops the stream as it takes the transfer: let the PUT's answer land.
            with suppress(Exception):
                status = await asyncio.wait_for(asyncio.shield(self.transfer), 5)
                self.transferred = status is not None and status < 300
        if self.transferred:
            if self.cfg.flaw == "retries-404":
                for _ in range(40):
                    if await self.api.hang_up(self.call) != 404:
                        break
                    await asyncio.sleep(0.2)
            return
        if self.hung_up:
            return
        if self.cfg.flaw == "no-hangup-on-drop" and not self.stopped:
            return
        await self.api.hang_up(self.acting_on())


def create_app() -> FastAPI:
    holder: list[State] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        holder.append(State(Config.from_env()))
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/")
    async def webhook(request: Request) -> Response:
        state = holder[0]
        cfg = state.config
        configured = bool(cfg.webhook_user and cfg.webhook_password)
        if not configured and cfg.flaw != "open-when-unconfigured":
            return Response("no webhook credentials configured", status_code=503)
        if configured and not _basic_ok(cfg, request.headers.get("authorization", "")):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="speaker"'})
        if state.busy:
            return Response("busy", status_code=503)
        if cfg.flaw == "crash-on-bad-body":
            body = await request.json()  # raises on anything but JSON: a 500
            call_id, account_id = str(body["callId"]), str(body["accountId"])
        else:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return Response("not JSON", status_code=400)
            if not isinstance(body, dict):
                return Response("not a JSON object", status_code=400)
            raw_call_id, raw_account_id = body.get("callId"), body.get("accountId")
            for value in (raw_call_id, raw_account_id):
                if not (isinstance(value, str) and UNRESERVED.fullmatch(value)):
                    return Response("bad callId or accountId", status_code=400)
            call_id, account_id = cast(str, raw_call_id), cast(str, raw_account_id)  # checked above
            if body.get("eventType") not in ("initiate", "answer"):
                return Response(status_code=204)
        state.current = (call_id, account_id)
        if cfg.flaw == "call-derived-token":
            token = hashlib.sha256(call_id.encode()).hexdigest()[:48]
        else:
            token = secrets.token_hex(24)
        ws_password = secrets.token_urlsafe(12)
        state.tokens[token] = Pending(
            call_id, account_id, time.monotonic() + cfg.token_ttl_s, ws_password
        )
        keepalive = "" if cfg.flaw == "no-keepalive" else '<StopStream name="speaker" wait="true"/>'
        if cfg.flaw == "no-hangup-on-drop":
            keepalive = '<Pause duration="86400"/>'
        bxml = (
            '<?xml version="1.0" encoding="UTF-8"?><Bxml>'
            f'<StartStream name="speaker" mode="bidirectional" '
            f'destination="wss://{cfg.proxy_host}/media?session={token}" '
            f'destinationUsername="speaker" destinationPassword="{ws_password}"/>'
            f"{keepalive}</Bxml>"
        )
        return Response(bxml, media_type="application/xml")

    @app.websocket("/media")
    async def media(websocket: WebSocket) -> None:
        state = holder[0]
        token = websocket.query_params.get("session", "")
        pending = (
            state.tokens.get(token)
            if state.config.flaw == "reusable-tokens"
            else state.tokens.pop(token, None)
        )
        expected = (
            "Basic "
            + base64.b64encode(
                f"speaker:{pending.ws_password if pending else ''}".encode()
            ).decode()
        )
        if (
            pending is None
            or pending.expires < time.monotonic()
            or not secrets.compare_digest(websocket.headers.get("authorization", ""), expected)
        ):
            if state.config.refuse_after_accept:  # the other valid form of a refusal
                await websocket.accept()
            await websocket.close(code=1008)
            return
        await websocket.accept()
        try:
            start = json.loads(await asyncio.wait_for(websocket.receive_text(), 5))
            meta = start.get("metadata") if isinstance(start, dict) else None
            stream_id = meta.get("streamId") if isinstance(meta, dict) else None
            if start.get("eventType") != "start" or not isinstance(stream_id, str):
                await websocket.close(code=1008)
                return
            if state.config.flaw == "one-wire-form" and _encoding(meta) != "PCMU":
                await websocket.close(code=1011)  # it knows one spelling of the encoding
                return
        except (ValueError, TimeoutError, AttributeError, WebSocketDisconnect, KeyError):
            with suppress(RuntimeError):
                await websocket.close(code=1008)
            return
        trusted = (pending.call_id, pending.account_id)
        if state.config.flaw == "start-ids":
            assert isinstance(meta, dict)  # stream_id is a str only when meta is a dict
            cid, acct = meta.get("callId"), meta.get("accountId")
            if isinstance(cid, str) and isinstance(acct, str):
                trusted = (cid, acct)
        session = Session(state, websocket, trusted)
        if state.config.flaw == "single-session":
            state.busy = True
        try:
            await session.run()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if state.config.flaw == "single-session" and (session.hung_up or session.transferred):
                state.busy = False
            await session.finish()

    return app


app = create_app()
