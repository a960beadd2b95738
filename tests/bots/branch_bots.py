"""The speaker bot broken one way per audit failure branch: each branch is shown to fire.

Serve with ``--app tests.bots.branch_bots:app`` and ``BRANCH_FLAWS=flaw[,flaw…]`` (names
in :data:`FLAWS`). Every flaw is a mistake real bots make. Flaws are applied in the
bot's own process when the app is built, by patching one piece of the speaker bot
(``tests/bots/speaker_bot.py``: light, no Pipecat) or by wrapping its ASGI app
(:class:`Wrapped`, for what its webhook answers and which sockets it refuses), so one
process can carry several flaws aimed at different checks; the test table in
``tests/integration/audit_branches.py`` says which flaw makes which branch fire.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import types
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.bots import speaker_bot
from tests.bots.speaker_bot import Config, Session, State, VoiceApi

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Answer:
    """A webhook answer the wrapper may rewrite before it leaves."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def without(self, name: bytes) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name]


Edit = Callable[["Wrapped", bytes, dict[bytes, bytes], Answer], Awaitable[None]]


@dataclass
class Wrapped:
    """The speaker bot's ASGI app with its webhook answers and socket refusals rewritten."""

    app: Any
    edits: list[Edit] = field(default_factory=list)
    refuse_sockets: bool = False
    on_refusal: bool = False
    """Hang up the call of the last accepted webhook whenever a socket is refused."""
    last_call: tuple[str, str] | None = None
    api: VoiceApi | None = None

    def voice_api(self) -> VoiceApi:
        if self.api is None:
            self.api = VoiceApi(State(Config.from_env()))
        return self.api

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/":
            await self._webhook(scope, receive, send)
        elif scope["type"] == "websocket" and (self.refuse_sockets or self.on_refusal):
            await self._socket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _webhook(self, scope: Message, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        answer = Answer(0, [], b"")

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer.body += message.get("body", b"")

        await self.app(scope, replay, capture)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if answer.status == 200 and b"<StartStream" in answer.body:
            self.last_call = _ids(body)
        for edit in self.edits:
            await edit(self, body, headers, answer)
        answer.without(b"content-length")
        answer.headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": answer.headers})  # fmt: skip
        await send({"type": "http.response.body", "body": answer.body})

    async def _socket(self, scope: Message, receive: Receive, send: Send) -> None:
        if self.refuse_sockets:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        accepted = False

        async def watch(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close" and not accepted and self.last_call:
                await self.voice_api().hang_up(self.last_call)
            await send(message)

        await self.app(scope, receive, watch)


def _ids(body: bytes) -> tuple[str, str] | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("callId"), str):
        return doc["callId"], str(doc.get("accountId"))
    return None


def _configured() -> bool:
    return bool(os.environ.get("BANDWIDTH_WEBHOOK_USERNAME"))


# -- webhook answers --------------------------------------------------------------------


async def _no_challenge(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """401 without ``WWW-Authenticate``: Bandwidth never resends with credentials."""
    if a.status == 401:
        a.without(b"www-authenticate")


async def _challenge_with_bxml(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """The 401 carries the BXML (and stream destination) it refused to give."""
    if a.status == 401:
        a.body = b'<?xml version="1.0"?><Bxml><StartStream destination="wss://x/media"/></Bxml>'


async def _forbids(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Refuses bad credentials with 403 and no challenge, so Bandwidth gives up."""
    if a.status == 401:
        a.status = 403
        a.without(b"www-authenticate")


async def _acts_on_refused(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Refuses the webhook, then hangs up the call its body names anyway."""
    ids = _ids(body)
    if a.status == 401 and ids is not None:
        await w.voice_api().hang_up(ids)


async def _hangs(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Never answers a webhook without ``Authorization``, or an authenticated empty body."""
    if b"authorization" not in h or body == b"":
        await asyncio.Event().wait()


async def _bxml_on_400(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Its 400 for a malformed body still carries a <StartStream>."""
    if a.status == 400:
        a.body = b'<?xml version="1.0"?><Bxml><StartStream destination="wss://x/media"/></Bxml>'


async def _unconfigured_401(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Without webhook credentials it answers 401 (Bandwidth resends, forever) for 503."""
    if a.status == 503 and not _configured():
        a.status = 401
        a.headers.append((b"www-authenticate", b'Basic realm="speaker"'))


def _rewrite(old: bytes, new: bytes, doc: str) -> Edit:
    async def edit(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
        if a.status == 200:
            a.body = a.body.replace(old, new)

    edit.__doc__ = doc
    return edit


_KEEPALIVE = b'<StopStream name="speaker" wait="true"/>'


async def _no_start_stream(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Answers an authenticated initiate with BXML that never starts a stream."""
    if a.status == 200:
        a.body = b'<?xml version="1.0" encoding="UTF-8"?><Bxml><Pause duration="86400"/></Bxml>'


async def _invalid_bxml(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Its answer is cut off mid-tag: not XML at all."""
    if a.status == 200:
        a.body = a.body[: a.body.index(b"<StartStream") + 12]


async def _not_xml(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Answers the webhook 200 with JSON instead of BXML."""
    if a.status == 200:
        a.body = b'{"ok": true}'
        a.without(b"content-type")
        a.headers.append((b"content-type", b"application/json"))


_seen = {"answered": 0, "served": 0, "transferred": 0}
"""What the flaws below count in this process: webhooks answered, calls transferred."""


async def _answers_twice(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Only the first two authenticated webhooks get a <StartStream>, then plain BXML."""
    if a.status == 200:
        _seen["answered"] += 1
        if _seen["answered"] > 2:
            await _no_start_stream(w, body, h, a)


async def _serves_three(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Answers three authenticated webhooks, then 503 to every one (a leaked slot, say)."""
    if a.status == 200:
        _seen["served"] += 1
        if _seen["served"] > 3:
            a.status, a.body = 503, b"busy"


async def _hangs_unconfigured(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Without webhook credentials, never answers a webhook that has none either."""
    if not _configured() and b"authorization" not in h:
        await asyncio.Event().wait()


async def _busy_after_transfer(w: Wrapped, body: bytes, h: dict[bytes, bytes], a: Answer) -> None:
    """Once it has transferred a call, it answers every webhook 503."""
    if _seen["transferred"] and a.status == 200:
        a.status, a.body = 503, b"busy"


# -- tokens -----------------------------------------------------------------------------


def _token_source(make: Callable[[int], str]) -> None:
    counter = iter(range(1, 1_000_000))
    speaker_bot.secrets = types.SimpleNamespace(  # type: ignore[attr-defined,assignment]
        token_hex=lambda _n: make(next(counter)),
        token_urlsafe=secrets.token_urlsafe,
        compare_digest=secrets.compare_digest,
    )


# -- what it says and does --------------------------------------------------------------


def _mute() -> None:
    """Streams silence where its speech should be: playAudio frames, nothing audible."""
    original = speaker_bot.play_frame

    def silent(pcm: bytes, content_type: str = speaker_bot.PCM16) -> str:
        return original(bytes(len(pcm)), content_type)

    speaker_bot.play_frame = silent


def _hangs_up_at_once() -> None:
    """Hangs its call up as soon as it has greeted, under the caller's feet."""
    greet = Session.greet

    async def greet_then_hang_up(self: Session) -> None:
        await greet(self)
        self.hung_up = True
        await self.api.hang_up(self.call)

    Session.greet = greet_then_hang_up  # type: ignore[method-assign]


def _late_clear() -> None:
    """Sends clear 2.8 s after the caller starts talking over it (budget: 1.5 s)."""

    async def barge_in(self: Session) -> None:
        if not self.talking:
            return

        async def later() -> None:
            await asyncio.sleep(2.8)
            await self.ws.send_text(json.dumps({"eventType": "clear"}))
            if self.speaking:
                self.speaking.cancel()

        asyncio.create_task(later())  # noqa: RUF006 - bounded by the socket

    Session.barge_in = barge_in  # type: ignore[method-assign]


async def _send(
    api: VoiceApi, method: str, path: str, body: str, headers: dict[str, str]
) -> int | None:
    async with httpx.AsyncClient(timeout=5) as client:
        bearer = f"Bearer {await api._bearer(client)}"
        r = await client.request(
            method,
            speaker_bot.VOICE_URL + path,
            content=body,
            headers={"Authorization": bearer, **headers},
        )
        return r.status_code


_TRANSFER = (
    '<?xml version="1.0" encoding="UTF-8"?><Bxml><Transfer><PhoneNumber>+19195550123'
    "</PhoneNumber></Transfer></Bxml>"
)


def _transfer(
    *,
    content_type: str = "application/xml",
    auth: str | None = None,
    body: str = _TRANSFER,
    times: int = 1,
    other_call: bool = False,
    never: bool = False,
) -> Callable[[], None]:
    def apply() -> None:
        async def transfer(self: VoiceApi, call: tuple[str, str]) -> int | None:
            call_id, account_id = call
            if never:
                return None
            if other_call:
                call_id = f"c-{uuid.uuid4().hex}"
            headers = {"Content-Type": content_type}
            if auth is not None:
                headers["Authorization"] = auth
            path = f"/accounts/{account_id}/calls/{call_id}/bxml"
            status = None
            for _ in range(times):
                status = await _send(self, "PUT", path, body, headers)
            return status

        VoiceApi.transfer = transfer  # type: ignore[method-assign]

    return apply


def _stranger_hangup() -> None:
    """When its stream ends, it also hangs up a call it made up (a stale global, say)."""
    finish = Session.finish

    async def finish_and_stray(self: Session) -> None:
        await self.api.hang_up((f"c-{uuid.uuid4().hex}", self.call[1]))
        await finish(self)

    Session.finish = finish_and_stray  # type: ignore[method-assign]


def _retries_404() -> None:
    """Treats a 404 on its hang-up as a failure and retries it, ten times."""
    hang_up = VoiceApi.hang_up

    async def retrying(self: VoiceApi, call: tuple[str, str]) -> int | None:
        status = None
        for _ in range(10):
            status = await hang_up(self, call)
            if status != 404:
                break
        return status

    VoiceApi.hang_up = retrying  # type: ignore[method-assign]


def _marks_busy() -> None:
    finish = Session.finish

    async def finish_then_busy(self: Session) -> None:
        await finish(self)
        _seen["transferred"] += self.transferred

    Session.finish = finish_then_busy  # type: ignore[method-assign]


def _never_hangs_up() -> None:
    """Never hangs up through the Voice API: it only closes its socket."""

    async def hang_up(self: VoiceApi, call: tuple[str, str]) -> int | None:
        return None

    VoiceApi.hang_up = hang_up  # type: ignore[method-assign]


def _hangs_up_with_bxml() -> None:
    """Ends its call by PUTting <Bxml><Hangup/></Bxml> instead of POSTing state=completed."""

    async def hang_up(self: VoiceApi, call: tuple[str, str]) -> int | None:
        call_id, account_id = call
        path = f"/accounts/{account_id}/calls/{call_id}/bxml"
        body = '<?xml version="1.0" encoding="UTF-8"?><Bxml><Hangup/></Bxml>'
        return await _send(self, "PUT", path, body, {"Content-Type": "application/xml"})

    VoiceApi.hang_up = hang_up  # type: ignore[method-assign]


def _refused_hangup() -> None:
    """Hangs up with a Bearer token it made up: the Voice API refuses it (401)."""

    async def hang_up(self: VoiceApi, call: tuple[str, str]) -> int | None:
        call_id, account_id = call
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.post(
                f"{speaker_bot.VOICE_URL}/accounts/{account_id}/calls/{call_id}",
                json={"state": "completed"},
                headers={"Authorization": "Bearer made-up"},
            )
            return r.status_code

    VoiceApi.hang_up = hang_up  # type: ignore[method-assign]


def _hangs_up_everyone() -> None:
    """When its stream ends, lists the account's calls and hangs every one of them up."""
    finish = Session.finish

    async def finish_everyone(self: Session) -> None:
        account = self.call[1]
        async with httpx.AsyncClient(timeout=5) as client:
            bearer = f"Bearer {await self.api._bearer(client)}"
            r = await client.get(
                f"{speaker_bot.VOICE_URL}/accounts/{account}/calls",
                headers={"Authorization": bearer},
            )
            calls = r.json() if r.status_code == 200 else []
        for call in calls:
            if isinstance(call, dict) and isinstance(call.get("callId"), str):
                await self.api.hang_up((call["callId"], account))
        await finish(self)

    Session.finish = finish_everyone  # type: ignore[method-assign]


@dataclass(frozen=True)
class Flaw:
    """One deliberate mistake: a wrapper edit, a wrapper switch, or a patch of the bot."""

    doc: str
    edit: Edit | None = None
    patch: Callable[[], None] | None = None
    refuse_sockets: bool = False
    on_refusal: bool = False


def _doc(fn: Callable[..., Any]) -> str:
    return (fn.__doc__ or "").strip()


def _edit(fn: Edit) -> Flaw:
    return Flaw(_doc(fn), edit=fn)


def _patch(fn: Callable[[], None]) -> Flaw:
    return Flaw(_doc(fn), patch=fn)


def _auth(check: Callable[[Config, str], bool], doc: str) -> Flaw:
    def apply() -> None:
        speaker_bot._basic_ok = check  # type: ignore[assignment]

    return Flaw(doc, patch=apply)


def _basic(header: str) -> tuple[str, str] | None:
    import base64
    import binascii

    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _password_only(cfg: Config, header: str) -> bool:
    creds = _basic(header)
    return creds is not None and creds[1] == cfg.webhook_password


def _username_only(cfg: Config, header: str) -> bool:
    creds = _basic(header)
    return creds is not None and creds[0] == cfg.webhook_user


def _missing_is_fine(cfg: Config, header: str) -> bool:
    return not header or _basic(header) == (cfg.webhook_user, cfg.webhook_password)


FLAWS: dict[str, Flaw] = {
    "password-only": _auth(_password_only, "Checks the webhook password, not the username."),
    "username-only": _auth(_username_only, "Checks the webhook username, not the password."),
    "missing-is-fine": _auth(_missing_is_fine, "Checks credentials only when there are some."),
    "no-challenge": _edit(_no_challenge),
    "challenge-with-bxml": _edit(_challenge_with_bxml),
    "forbids": _edit(_forbids),
    "acts-on-refused": Flaw(
        "Hangs up the call of a refused webhook, and of the last call when a socket is refused.",
        edit=_acts_on_refused,
        on_refusal=True,
    ),
    "hangs": _edit(_hangs),
    "bxml-on-400": _edit(_bxml_on_400),
    "unconfigured-401": _edit(_unconfigured_401),
    "hangs-unconfigured": _edit(_hangs_unconfigured),
    "serves-three": _edit(_serves_three),
    "no-start-stream": _edit(_no_start_stream),
    "answers-twice": _edit(_answers_twice),
    "invalid-bxml": _edit(_invalid_bxml),
    "not-xml": _edit(_not_xml),
    "unidirectional": _edit(
        _rewrite(
            b'mode="bidirectional"',
            b'mode="unidirectional"',
            "Opens a unidirectional stream: its audio never reaches the caller.",
        )
    ),
    "pause-keepalive": _edit(
        _rewrite(_KEEPALIVE, b'<Pause duration="86400"/>', "Holds the call with <Pause>.")
    ),
    "refuses-streams": Flaw("Refuses every media socket, genuine or not.", refuse_sockets=True),
    "two-tokens": Flaw(
        "Mints its tokens from a pool of two.",
        patch=lambda: _token_source(lambda n: f"{'ab' * 24 if n % 2 else 'cd' * 24}"),
    ),
    "counter-tokens": Flaw(
        "Mints counter tokens: 0001, 0002, 0003 …",
        patch=lambda: _token_source(lambda n: f"{n:04d}"),
    ),
    "mute": _patch(_mute),
    "hangs-up-at-once": _patch(_hangs_up_at_once),
    "late-clear": _patch(_late_clear),
    "transfer-text-plain": Flaw(
        "PUTs its transfer as text/plain.", patch=_transfer(content_type="text/plain")
    ),
    "transfer-forged-bearer": Flaw(
        "PUTs its transfer with a Bearer token it made up.",
        patch=_transfer(auth="Bearer not-a-token-the-oauth-endpoint-issued"),
    ),
    "transfer-basic": Flaw(
        "PUTs its transfer with Basic credentials.", patch=_transfer(auth="Basic dXNlcjpwYXNz")
    ),
    "transfer-no-verb": Flaw(
        "PUTs BXML that says goodbye and holds no <Transfer>.",
        patch=_transfer(
            body='<?xml version="1.0"?><Bxml><SpeakSentence>Bye</SpeakSentence></Bxml>'
        ),
    ),
    "transfer-twice": Flaw("PUTs its transfer twice.", patch=_transfer(times=2)),
    "transfer-wrong-call": Flaw(
        "Transfers a call id it made up.", patch=_transfer(other_call=True)
    ),
    "never-transfers": Flaw("Says it will transfer, and never does.", patch=_transfer(never=True)),
    "stranger-hangup": _patch(_stranger_hangup),
    "retries-404": _patch(_retries_404),
    "busy-after-transfer": Flaw(
        "Once it has transferred a call, it answers every webhook 503.",
        edit=_busy_after_transfer,
        patch=_marks_busy,
    ),
    "never-hangs-up": _patch(_never_hangs_up),
    "hangs-up-with-bxml": _patch(_hangs_up_with_bxml),
    "hangs-up-everyone": _patch(_hangs_up_everyone),
    "refused-hangup": _patch(_refused_hangup),
}


def build() -> Wrapped:
    """The speaker bot with the flaws ``BRANCH_FLAWS`` names (comma-separated)."""
    names = [n for n in os.environ.get("BRANCH_FLAWS", "").split(",") if n]
    unknown = sorted(set(names) - FLAWS.keys())
    if unknown:
        raise SystemExit(f"BRANCH_FLAWS: unknown {unknown}; known: {sorted(FLAWS)}")
    flaws = [FLAWS[n] for n in names]
    for flaw in flaws:
        if flaw.patch is not None:
            flaw.patch()
    return Wrapped(
        speaker_bot.create_app(),
        edits=[f.edit for f in flaws if f.edit is not None],
        refuse_sockets=any(f.refuse_sockets for f in flaws),
        on_refusal=any(f.on_refusal for f in flaws),
    )


def __getattr__(name: str) -> Wrapped:
    """``app``: built when first looked up, in the bot's own process."""
    if name != "app":
        raise AttributeError(name)
    app = build()
    globals()["app"] = app
    return app
