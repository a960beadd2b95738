"""What every check works with: the harness, the bot, its calls, and who owns which.

Checks run concurrently against one bot and one fake Bandwidth, so the journal holds
everyone's requests. :class:`AuditContext` keeps evidence apart:

- every call a check places or creates is registered to it, as **trusted** (a call whose
  stream the check drives) or as a **decoy** (a live call no stream belongs to: the
  spoofing victim, a bystander). Any request touching a decoy, or a call no check
  created, is a finding for the checks that own or overlap it
  (:func:`~simulator.audit.rules.foreign_requests`: both the account and the call of
  a request must be those of a registered call);
- every webhook goes through the :class:`~simulator.audit.concurrency.WebhookGate`, so a
  check that must know which webhook the bot saw last can hold it alone. The gate is
  taken *before* a webhook's 15 s answer budget starts (:meth:`AuditContext.send_webhook`,
  and a call's first webhook in :meth:`AuditContext.run_session`), so time spent waiting
  for another check's exclusive window is never counted against the bot;
- calls with real-time media take a :class:`~simulator.audit.concurrency.CallSlots` slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx

from simulator.audit.concurrency import CallSlots, WebhookGate
from simulator.audit.config import AuditConfig, Utterance
from simulator.audit.evidence import request_evidence
from simulator.audit.rules import foreign_requests
from simulator.audit.tokens import bot_stream_url
from simulator.call.live import Caller, LiveCall
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.call.webhook_sender import WEBHOOK_LIMITS, WebhookExchange
from simulator.call.webhook_sender import send_webhook as _send_webhook
from simulator.errors import CallTimeout
from simulator.protocol.bxml import BxmlDocument, BxmlError, parse_bxml
from simulator.protocol.verbs import StartStream, Step, plan
from simulator.protocol.webhook_auth import AuthMode, WebhookAuth, basic_authorization
from simulator.protocol.webhook_bodies import CallInfo, initiate_body
from simulator.protocol.webhook_signing import Signing
from simulator.rest.journal import Journal, JournalEntry
from simulator.rest.registry import Account, Call
from simulator.rest.routes import Route
from simulator.runner.harness import Harness
from simulator.runner.targets import Target

__all__ = ["Acted", "AuditContext", "MintError", "Minted"]

T = TypeVar("T")
Hook = Callable[[httpx.Request, httpx.Response], Awaitable[None]]


class MintError(Exception):
    """The bot did not answer an authenticated webhook with a usable ``<StartStream>``."""


@dataclass(frozen=True)
class Minted:
    """A stream destination the bot issued for one call, ready to dial."""

    call: Call
    exchange: WebhookExchange
    document: BxmlDocument
    steps: list[Step]
    stream: StartStream
    ws_url: str
    headers: dict[str, str]

    @property
    def destination(self) -> str:
        """The ``<StartStream destination>`` as the bot wrote it."""
        return self.stream.destination


class Acted(asyncio.Event):
    """Set once the bot has modified one of the watched calls (answered request)."""

    def __init__(self, journal: Journal, call_ids: set[str]) -> None:
        super().__init__()
        self.call_ids = call_ids
        self._unsubscribe = journal.subscribe(self._seen)

    def _seen(self, entry: JournalEntry) -> None:
        if entry.route in (Route.UPDATE_CALL, Route.UPDATE_BXML) and entry.call_id in self.call_ids:
            self.set()

    def close(self) -> None:
        """Stop watching the journal."""
        self._unsubscribe()


class _Transport(httpx.AsyncBaseTransport):
    """httpx transport that holds the webhook gate (shared) and runs an answer hook."""

    def __init__(self, gate: WebhookGate | None, hook: Hook | None) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=WEBHOOK_LIMITS)
        self._gate = gate
        self._hook = hook

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._gate is not None:
            async with self._gate.shared():
                response = await self._inner.handle_async_request(request)
        else:
            response = await self._inner.handle_async_request(request)
        if self._hook is not None:
            await self._hook(request, response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _SessionTransport(httpx.AsyncBaseTransport):
    """One call's webhooks: the first under its session's gate lease, the rest through the gate.

    The lease is taken before the call starts (:meth:`AuditContext.run_session`).
    """

    def __init__(self, gate: WebhookGate) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=WEBHOOK_LIMITS)
        self._gate = gate
        self._first = True
        self.first_sent = asyncio.Event()
        """Set once the first webhook has been answered (or failed)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._first:
            self._first = False
            try:
                return await self._inner.handle_async_request(request)
            finally:
                self.first_sent.set()
        async with self._gate.shared():
            return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class AuditContext:
    """The running audit: one harness, one bot, and the checks' calls."""

    def __init__(
        self,
        harness: Harness,
        config: AuditConfig,
        lines: dict[str, Utterance],
        target: Target,
    ) -> None:
        if harness.bot is None:
            raise RuntimeError("the audit needs a running bot")
        self.harness = harness
        self.fake = harness.fake
        self.bot = harness.bot
        self.config = config
        self.lines = lines
        self.target = target
        self.gate = WebhookGate()
        self.slots = CallSlots(config.max_calls)
        self.trusted: dict[str, str] = {}
        self.decoys: dict[str, str] = {}
        self.accounts: dict[str, str] = {}
        """Every registered call's account (call id → account id): the spoof rule's key."""
        self._shared: dict[str, asyncio.Task[Any]] = {}
        self.copy_logs: list[Path] = []
        """The logs of the bot copies checks started (``webhook.creds_unset``)."""
        self.calm = asyncio.Event()
        """Set once the latency-measuring checks are done: heavy checks wait for it."""
        self.alone = asyncio.Lock()
        """Held by a check that runs by itself (``CheckSpec.alone``)."""
        self._other_account: Account | None = None
        self._clients: list[httpx.AsyncClient] = []
        self.client = self.new_client()
        self.direct = self.new_client(gated=False)
        """Webhooks sent under a gate lease taken beforehand, or to another process."""
        self._leases: dict[str, _SessionTransport] = {}

    # -- lifecycle ---------------------------------------------------------------------

    def new_client(self, *, gated: bool = True, hook: Hook | None = None) -> httpx.AsyncClient:
        """An httpx client for webhooks: through the gate unless ``gated`` is False."""
        client = httpx.AsyncClient(
            transport=_Transport(self.gate if gated else None, hook), trust_env=False
        )
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close the clients and cancel shared scenarios nobody waited for."""
        for task in self._shared.values():
            task.cancel()
        await asyncio.gather(*self._shared.values(), return_exceptions=True)
        for client in self._clients:
            await client.aclose()

    def shared(self, name: str, factory: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """Run ``factory`` once however many checks ask for ``name``; await its result."""
        task = self._shared.get(name)
        if task is None:
            task = asyncio.ensure_future(factory())
            self._shared[name] = task
        return cast("Awaitable[T]", asyncio.shield(task))

    def forget_shared(self) -> None:
        """Drop finished shared scenarios, so a re-run check places its calls afresh."""
        for name in [n for n, t in self._shared.items() if t.done()]:
            del self._shared[name]

    @property
    def webhook_url(self) -> str:
        """Where the bot's call webhook is."""
        return self.bot.base_url.rstrip("/") + self.config.webhook_path

    # -- calls and who owns them -------------------------------------------------------

    @property
    def account(self) -> Account:
        """The account whose OAuth credentials the bot holds."""
        return self.fake.default_account

    def other_account(self) -> Account:
        """A second account in the fake (the bot has no credentials for it)."""
        if self._other_account is None:
            self._other_account = self.fake.registry.create_account()
        return self._other_account

    def new_call(self, owner: str, *, decoy: bool = False, account: Account | None = None) -> Call:
        """A live (answered) call registered to ``owner``; a decoy has no stream ever."""
        acct = account or self.account
        call = self.fake.registry.create_call(acct.account_id)
        self.fake.registry.answer(call.call_id)
        (self.decoys if decoy else self.trusted)[call.call_id] = owner
        self.accounts[call.call_id] = call.account_id
        return call

    def is_up(self, call_id: str) -> bool:
        """Whether the call can still be modified (not disconnected, not transferred)."""
        call = self.fake.registry.get(call_id)
        return call is not None and call.active

    def phase(self, call_id: str) -> str:
        """The call's phase (``answered``, ``disconnected``, ``transferred`` …)."""
        call = self.fake.registry.get(call_id)
        return call.phase.value if call is not None else "unknown"

    # -- the journal -------------------------------------------------------------------

    def mark(self) -> int:
        """A journal position: requests after it are :meth:`requests_since` it."""
        return self.fake.journal.last_seq

    def requests_since(self, seq: int) -> list[JournalEntry]:
        """The bot's requests after ``seq`` (not the simulator's control API)."""
        return [e for e in self.fake.journal.since(seq) if e.route != Route.CONTROL]

    def foreign(self, owner: str, entries: list[JournalEntry]) -> list[JournalEntry]:
        """Requests about ``owner``'s decoys, or about no call a check created.

        A request is about a created call only when both its account and its call id are
        that call's (:func:`~simulator.audit.rules.about_trusted`).
        """
        decoys = {c for c, o in self.decoys.items() if o == owner}
        return foreign_requests(entries, decoys=decoys, known=self.accounts)

    def about(self, call_id: str, entries: list[JournalEntry]) -> list[JournalEntry]:
        """The requests that act on one call."""
        return [e for e in entries if e.call_id == call_id]

    @staticmethod
    def evidence(entries: list[JournalEntry], t0: float | None = None) -> list[dict[str, Any]]:
        """Requests as evidence."""
        return [request_evidence(e, t0) for e in entries]

    def acted(self, call_ids: set[str]) -> Acted:
        """An event set when the bot modifies one of ``call_ids`` (hang-up, transfer …)."""
        return Acted(self.fake.journal, call_ids)

    async def quiet(self, seconds: float | None = None) -> None:
        """Give late requests time to arrive (``settle_s`` by default)."""
        await asyncio.sleep(self.config.settle_s if seconds is None else seconds)

    # -- webhooks ----------------------------------------------------------------------

    def call_info(self, call: Call) -> CallInfo:
        """The webhook facts of a registry call."""
        return CallInfo(
            account_id=call.account_id,
            application_id=call.application_id,
            call_id=call.call_id,
            from_=call.from_,
            to=call.to,
            start_time=call.start_time,
        )

    def auth(self, mode: AuthMode = "challenge") -> WebhookAuth:
        """The bot's webhook credentials, sent as ``mode`` asks."""
        creds = self.harness.credentials
        if not (creds.webhook_username and creds.webhook_password):
            return WebhookAuth("none")
        return WebhookAuth(mode, creds.webhook_username, creds.webhook_password)

    async def send_webhook(
        self,
        body: dict[str, Any] | bytes,
        *,
        auth: WebhookAuth,
        url: str | None = None,
        client: httpx.AsyncClient | None = None,
        signing: Signing | None = None,
    ) -> WebhookExchange:
        """Deliver one webhook and return the exchange.

        Without ``client`` it goes through the gate, taken before the 15 s answer budget
        starts, so a wait for another check's exclusive window never counts as the bot's.
        It is signed as ``signing`` says, else as the audit's ``--signing-*`` do.
        """
        sign = signing or self.config.signing
        target = url or self.webhook_url
        if client is not None:
            return await _send_webhook(
                client, target, body, auth=auth, timeout_s=15.0, sync=True, signing=sign
            )
        async with self.gate.shared():
            return await _send_webhook(
                self.direct, target, body, auth=auth, timeout_s=15.0, sync=True, signing=sign
            )

    def initiate(self, call: Call, **overrides: Any) -> dict[str, Any]:
        """The ``initiate`` body of ``call``, with keys replaced (None removes a key)."""
        body = initiate_body(self.call_info(call), datetime.now(UTC))
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    async def mint(self, call: Call, *, client: httpx.AsyncClient | None = None) -> Minted:
        """Send ``call``'s initiate webhook as Bandwidth does; return the stream it answers."""
        exchange = await self.send_webhook(self.initiate(call), auth=self.auth(), client=client)
        if exchange.bxml_text is None:
            why = exchange.error or f"HTTP {exchange.final_status} without BXML"
            raise MintError(f"the authenticated initiate webhook was not answered with BXML: {why}")
        try:
            document = parse_bxml(exchange.bxml_text, context="webhook")
        except BxmlError as exc:
            raise MintError(f"the initiate webhook was answered with invalid BXML: {exc}") from None
        steps = plan(document, self.webhook_url)
        stream = next((s for s in steps if isinstance(s, StartStream)), None)
        if stream is None:
            raise MintError("the initiate webhook's BXML has no <StartStream>")
        headers: dict[str, str] = {}
        if stream.username is not None and stream.password is not None:
            headers["Authorization"] = basic_authorization(stream.username, stream.password)
        return Minted(
            call=call,
            exchange=exchange,
            document=document,
            steps=steps,
            stream=stream,
            ws_url=bot_stream_url(stream.destination, self.bot.base_url),
            headers=headers,
        )

    # -- simulated calls ---------------------------------------------------------------

    def options(self, **fields: Any) -> CallOptions:
        """Call options for this audit: the bot's webhook path and credentials."""
        creds = self.harness.credentials
        base = CallOptions(webhook_path=self.config.webhook_path, signing=self.config.signing)
        if creds.webhook_username and creds.webhook_password:
            base = replace(
                base,
                webhook_username=creds.webhook_username,
                webhook_password=creds.webhook_password,
            )
        else:
            base = replace(base, auth_mode="none")
        return replace(base, **fields)

    def session(
        self,
        owner: str,
        caller: Caller | None,
        options: CallOptions,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> CallSession:
        """A call session whose call is registered (trusted) to ``owner``.

        Without ``client``, the session gets its own, whose first webhook goes out under
        the gate lease :meth:`run_session` takes before the call starts.
        """
        leased: _SessionTransport | None = None
        if client is None:
            leased = _SessionTransport(self.gate)
            client = httpx.AsyncClient(transport=leased, trust_env=False)
            self._clients.append(client)
        session = CallSession(
            self.fake,
            self.bot.base_url,
            options=options,
            caller=caller,
            client=client,
        )
        if leased is not None:
            self._leases[session.call_id] = leased
        self.trusted[session.call_id] = owner
        self.accounts[session.call_id] = session.account_id
        return session

    async def run_session(self, session: CallSession) -> CallResult:
        """Run a session to its end; child-process violations are added to its result.

        A session made without its own client sends its first webhook under a gate lease
        taken here, before the call (and its webhook's 15 s budget) starts.
        """
        leased = self._leases.pop(session.call_id, None)
        if leased is None:
            result = await session.run()
        else:
            task = None
            try:
                async with self.gate.shared():
                    task = asyncio.ensure_future(session.run())
                    first = asyncio.ensure_future(leased.first_sent.wait())
                    await asyncio.wait({task, first}, return_when=asyncio.FIRST_COMPLETED)
                    first.cancel()
                result = await task
            except asyncio.CancelledError:
                if task is not None:
                    task.cancel()
                raise
        for violation in self.harness.collect_child_violations():
            result.violations.append(violation)
        return result

    async def place_call(
        self,
        owner: str,
        caller: Caller | None,
        options: CallOptions,
        *,
        client: httpx.AsyncClient | None = None,
        priority: int = 1,
        alone: bool = False,
    ) -> CallResult:
        """Place one call (in a call slot; lower ``priority`` first) and run it to its end.

        ``alone`` takes every slot: no other media call runs meanwhile, for a check whose
        latency budget the audit's own load must not decide.
        """
        count = self.slots.capacity if alone else 1
        async with self.slots.take(count, priority=priority):
            return await self.run_session(self.session(owner, caller, options, client=client))

    async def smoke_call(self, owner: str) -> tuple[bool, dict[str, Any]]:
        """Whether the bot still serves a new call: webhook, stream accepted, still up."""
        state: dict[str, Any] = {}

        async def caller(call: LiveCall) -> None:
            opened = await call.wait_for("stream-accepted", timeout_ms=10_000)
            state["stream_accepted_ms"] = round(opened.at_ms, 1)
            try:
                audio = await call.wait_for(
                    "bot-audio-first", timeout_ms=self.config.greeting_budget_ms
                )
                state["bot_audio_ms"] = round(audio.at_ms - opened.at_ms, 1)
            except CallTimeout:
                state["bot_audio_ms"] = None
            await call.pause(300)
            state["up_when_caller_left"] = not call.ended

        started = time.monotonic()
        result = await self.place_call(owner, caller, self.options(max_call_s=30))
        exchange = result.exchange
        state.update(
            call_id=result.call_id,
            webhook_status=exchange.final_status if exchange else None,
            stream=result.streams[0].status if result.streams else None,
            took_ms=round((time.monotonic() - started) * 1000, 1),
        )
        ok = bool(
            exchange is not None
            and exchange.delivered
            and result.streams
            and result.streams[0].status == "accepted"
            and state.get("up_when_caller_left")
        )
        return ok, state
