"""One inbound call, end to end: webhook, BXML, media streams, caller, and the registry.

:class:`CallSession` plays Bandwidth for one call (bandwidth-protocol.md §5.1):

1. registers the call, sends ``initiate`` (Basic-auth challenge flow by default);
2. parses the BXML answer safely and runs it (:mod:`simulator.protocol.verbs`): ``<StartStream>``
   opens a :class:`~simulator.call.stream.StreamDriver` and goes on; ``<Pause>`` and
   ``<StopStream wait="true">`` hold the call; a document that runs out hangs up;
3. runs the caller's script concurrently (speak audio, wait for events, hang up);
4. follows the registry: a hang-up through the Voice API sends ``stop`` and closes the
   stream; a ``<Transfer>`` through ``PUT …/bxml`` does the same and leaves the call
   transferred; a redirect or new BXML interrupts the running verb;
5. reports an **orphaned leg**: the bot's stream ended while a ``<Pause>`` kept the call
   up, and the bot did not hang the call up within ``orphan_grace_s``.

Everything is recorded on one clock (:mod:`simulator.call.recorder`). Nothing here waits
without a timeout: the whole call is bounded by ``max_call_s``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import ipaddress
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from simulator.call.recorder import CallClock, CallRecorder, TimelineEvent
from simulator.call.stream import StreamDriver, StreamOutcome
from simulator.call.webhook_sender import AuthMode, WebhookAuth, WebhookExchange, send_webhook
from simulator.errors import CallTimeout
from simulator.judge.metrics import CallMetrics, measure
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.codec import Pcm
from simulator.protocol.ids import new_stream_id
from simulator.protocol.media import CallerSource, FrameViolation, StreamConfig
from simulator.protocol.verbs import (
    Gather,
    Hangup,
    Pause,
    Redirect,
    Ring,
    SpeakSentence,
    StartStream,
    Step,
    StopStream,
    Transfer,
    Unsimulated,
    plan,
    speech_seconds,
)
from simulator.protocol.webhook_bodies import (
    CallInfo,
    StreamInfo,
    disconnect_body,
    gather_body,
    initiate_body,
    media_stream_rejected_body,
    media_stream_started_body,
    media_stream_stopped_body,
    redirect_body,
)
from simulator.rest.fake import FakeBandwidth
from simulator.rest.journal import JournalEntry
from simulator.rest.registry import CallEvent, CallPhase

__all__ = ["CallEnded", "CallOptions", "CallResult", "CallSession", "Caller", "LiveCall"]


@dataclass
class CallOptions:
    """How Bandwidth places the call, and which of its undocumented choices to make."""

    from_: str = "+15555550100"
    to: str = "+15555550199"
    webhook_path: str = "/"
    auth_mode: AuthMode = "challenge"
    webhook_username: str | None = None
    webhook_password: str | None = field(default=None, repr=False)
    webhook_timeout_s: float = 15.0
    signing_secret: str | None = field(default=None, repr=False)
    initiate_overrides: Mapping[str, Any] | None = None
    """Keys replaced in the ``initiate`` body (a malformed-webhook scenario); None removes."""
    initiate_raw: bytes | None = None
    """Send these bytes as the ``initiate`` body instead of JSON (a fuzzer's garbage)."""
    disconnect_path: str | None = None
    """Where the ``disconnect`` webhook goes (the application's CallStatusCallbackUrl)."""
    metadata_overrides: Mapping[str, Any] | None = None
    """Keys replaced in the ``start`` frame's metadata: forged ids for spoofing checks."""
    sequence_start: int = 1
    stream_delay_s: float = 0.0
    """How long Bandwidth waits before opening the media socket (an expired-token check)."""
    stream_open_timeout_s: float = 10.0
    max_call_s: float = 120.0
    orphan_grace_s: float = 5.0
    strict_root: bool = False
    caller_lines: list[str] = field(default_factory=list)
    """What the caller says, as text, for a bot's scripted speech-to-text."""
    digits: str = ""
    """DTMF the caller presses when a ``<Gather>`` runs."""


CALLER_GRACE_S = 5.0
"""How long the caller script may go on after the call has ended and its streams closed."""

_LATE_KINDS = frozenset({"api-request", "hangup-request", "call-ended", "violation", "note"})
"""Timeline events that can still happen once a call's streams have closed."""


class CallEnded(Exception):
    """The call ended while the caller script was waiting for something else."""


Caller = Callable[["LiveCall"], Awaitable[None]]


@dataclass
class CallResult:
    """Everything one call produced: ids, the webhook exchange, streams, timeline, requests."""

    call_id: str
    account_id: str
    application_id: str
    exchange: WebhookExchange | None
    bxml_error: str | None
    streams: list[StreamOutcome]
    recorder: CallRecorder
    phase: str
    disconnect_cause: str | None
    api_requests: list[JournalEntry]
    violations: list[dict[str, Any]]
    errors: list[str]

    @property
    def timeline(self) -> list[TimelineEvent]:
        """The call's events in time order."""
        return sorted(self.recorder.timeline, key=lambda e: e.at_ms)

    def events(self, kind: str) -> list[TimelineEvent]:
        """The timeline events of one kind."""
        return [e for e in self.recorder.timeline if e.kind == kind]

    @functools.cached_property
    def metrics(self) -> CallMetrics:
        """The latencies measured from the call's audio, computed once.

        The summary, the reports and the artifacts all read this one; call
        ``measure(result, config)`` for other thresholds.
        """
        return measure(self)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary of ``bwsim call`` (``"schema": 1``)."""
        ex = self.exchange
        return {
            "schema": 1,
            "call": {
                "callId": self.call_id,
                "accountId": self.account_id,
                "applicationId": self.application_id,
                "final_state": self.phase,
                "disconnect_cause": self.disconnect_cause,
            },
            "webhook": None
            if ex is None
            else {
                "url": ex.url,
                "outcome": ex.outcome,
                "status": ex.final_status,
                "attempts": [
                    {"auth": a.auth_sent, "status": a.status, "elapsed_ms": a.elapsed_ms}
                    for a in ex.attempts
                ],
                "bxml": ex.bxml_text,
                "error": ex.error,
                "rule_broken": ex.rule_broken,
            },
            "bxml_error": self.bxml_error,
            "streams": [s.to_dict() for s in self.streams],
            "events": [e.to_dict() for e in self.timeline],
            "api_requests": [
                {
                    "at_ms": round(self.recorder.clock.at(e.at), 1),
                    "method": e.method,
                    "path": e.path,
                    "route": e.route,
                    "status": e.status,
                    "account_id": e.account_id,
                    "call_id": e.call_id,
                    "client_id": e.client_id,
                    "body": e.body[:500],
                }
                for e in self.api_requests
            ],
            "violations": self.violations,
            "errors": self.errors,
            "metrics": self.metrics.to_dict(),
        }

    def write(self, directory: Path) -> dict[str, Path]:
        """Write ``call.wav``, ``trace.jsonl``, ``timeline.json`` and ``summary.json``."""
        paths = self.recorder.write(directory)
        summary = directory / "summary.json"
        summary.write_text(json.dumps(self.summary(), indent=1, default=str) + "\n", "utf-8")
        paths["summary"] = summary
        return paths


class LiveCall:
    """The caller's handle on a call in progress: speak, wait for events, hang up."""

    def __init__(self, session: CallSession) -> None:
        self._session = session

    @property
    def call_id(self) -> str:
        """The call's id (as the bot got it from the webhook)."""
        return self._session.call_id

    @property
    def account_id(self) -> str:
        """The account the call belongs to."""
        return self._session.account_id

    @property
    def ended(self) -> bool:
        """Whether the call has ended (or left the bot by a transfer)."""
        return self._session.ended.is_set()

    @property
    def recorder(self) -> CallRecorder:
        """The call's recorder (timeline, trace, audio)."""
        return self._session.recorder

    def ms(self) -> float:
        """Milliseconds since the call began."""
        return self._session.clock.ms()

    async def say(self, samples: Pcm, label: str = "audio", *, wait: bool = True) -> None:
        """Speak 8 kHz audio into the call; with ``wait``, return once it has all been sent."""
        source = self._session.caller
        source.say(samples, label)
        if not wait:
            return
        budget_s = len(samples) / 8000 + 5.0
        drained = asyncio.Event()
        source.on_drained = drained.set
        ended = asyncio.ensure_future(self._session.ended.wait())
        spoken = asyncio.ensure_future(drained.wait())
        try:
            done, _ = await asyncio.wait(
                [ended, spoken], timeout=budget_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            spoken.cancel()
            source.on_drained = None
        if self.ended:
            raise CallEnded
        if not done:
            source.cancel()
            what = f"caller audio {label!r} to be sent (is a stream open?)"
            raise CallTimeout(what, budget_s * 1000)

    def stop_talking(self) -> None:
        """Drop what the caller has queued but not said yet."""
        self._session.caller.cancel()

    async def pause(self, ms: float) -> None:
        """Stay on the line (silent) for ``ms``; raises :class:`CallEnded` if it ends first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._session.ended.wait(), ms / 1000)
        if self.ended:
            raise CallEnded

    async def wait_for(
        self,
        kind: str,
        *,
        timeout_ms: float,
        after_ms: float | None = None,
        where: Callable[[TimelineEvent], bool] | None = None,
    ) -> TimelineEvent:
        """Wait for a timeline event of ``kind`` (later than ``after_ms`` if given).

        Raises :class:`~simulator.errors.CallTimeout` after ``timeout_ms``, and
        :class:`CallEnded` once the call is over and its streams are closed (except for
        events that can come later: API requests, the call's end, violations).
        """
        return await self._session.wait_for(
            kind, timeout_ms=timeout_ms, after_ms=after_ms, where=where
        )

    def hangup(self) -> None:
        """The caller hangs up: ``stop`` and close on every stream, call disconnected."""
        self._session.caller_hangup()

    def drop_streams(self) -> None:
        """Every media connection dies (no ``stop``, no close frame); the call stays up.

        What a network failure looks like to the bot. Under ``<Pause>`` the bot then has
        ``orphan_grace_s`` to hang the call up before it is reported as an orphaned leg.
        """
        self._session.drop_streams()

    async def replay_stream(self, hold_ms: float = 1500.0) -> StreamOutcome:
        """Open a second socket with this call's stream URL (a replayed one-time token).

        A sound bot refuses it (HTTP 403 on the upgrade through uvicorn, or close 1008).
        The attempt is stream ``replay`` on the timeline; it is stopped after ``hold_ms``.
        """
        return await self._session.replay_stream(hold_ms)


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class CallSession:
    """Play Bandwidth for one inbound call to the bot at ``bot_base_url``."""

    def __init__(
        self,
        fake: FakeBandwidth,
        bot_base_url: str,
        *,
        options: CallOptions | None = None,
        caller: Caller | None = None,
        client: httpx.AsyncClient | None = None,
        account_id: str | None = None,
    ) -> None:
        self.fake = fake
        self.bot_base_url = bot_base_url.rstrip("/")
        self.options = options or CallOptions()
        self.caller_script = caller
        self._client = client
        account = fake.registry.accounts[account_id] if account_id else fake.default_account
        self.clock = CallClock()
        self.recorder = CallRecorder(self.clock)
        call = fake.registry.create_call(
            account.account_id, from_=self.options.from_, to=self.options.to
        )
        self.call = call
        self.call_id = call.call_id
        self.account_id = call.account_id
        self.info = CallInfo(
            account_id=call.account_id,
            application_id=call.application_id,
            call_id=call.call_id,
            from_=call.from_,
            to=call.to,
            start_time=call.start_time,
        )
        self.caller = CallerSource()
        self.ended = asyncio.Event()
        self._interrupt = asyncio.Event()
        self._next: tuple[str, Any] | None = None
        self._streams: dict[str, StreamDriver] = {}
        self._extra_streams: list[StreamDriver] = []
        self._stream_tasks: list[asyncio.Task[StreamOutcome]] = []
        self._stream_infos: dict[str, StreamInfo] = {}
        self._all_streams_closed = asyncio.Event()
        self._waiters: list[tuple[str, asyncio.Future[TimelineEvent], Callable[..., bool]]] = []
        self._settled = False
        self.errors: list[str] = []
        self.violations: list[dict[str, Any]] = []
        self.exchange: WebhookExchange | None = None
        self.bxml_error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()
        self._journal_start = fake.journal.last_seq
        self._unsubscribe: list[Callable[[], None]] = []
        self.recorder.subscribe(self._resolve_waiters)
        if self.options.caller_lines:
            fake.caller_lines[self.call_id] = list(self.options.caller_lines)

    # -- waiting on the timeline -----------------------------------------------------

    def _resolve_waiters(self, event: TimelineEvent) -> None:
        for waiter in list(self._waiters):
            kind, future, accept = waiter
            if kind == event.kind and not future.done() and accept(event):
                future.set_result(event)
                self._waiters.remove(waiter)

    def _settle(self) -> None:
        """The call is over and its streams are closed: fail waits that can no longer succeed."""
        self._settled = True
        for kind, future, _ in self._waiters:
            if kind not in _LATE_KINDS and not future.done():
                future.set_exception(CallEnded(f"the call ended before {kind}"))
        self._waiters = [w for w in self._waiters if not w[1].done()]

    async def wait_for(
        self,
        kind: str,
        *,
        timeout_ms: float,
        after_ms: float | None = None,
        where: Callable[[TimelineEvent], bool] | None = None,
    ) -> TimelineEvent:
        """See :meth:`LiveCall.wait_for`."""

        def accept(event: TimelineEvent) -> bool:
            late_enough = after_ms is None or event.at_ms >= after_ms
            return late_enough and (where is None or where(event))

        for event in self.recorder.timeline:
            if event.kind == kind and accept(event):
                return event
        if self._settled and kind not in _LATE_KINDS:
            raise CallEnded(f"the call had ended before {kind}")
        future: asyncio.Future[TimelineEvent] = asyncio.get_running_loop().create_future()
        self._waiters.append((kind, future, accept))
        try:
            return await asyncio.wait_for(future, timeout_ms / 1000)
        except TimeoutError:
            raise CallTimeout(kind, timeout_ms) from None
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not future]

    # -- registry and journal events -------------------------------------------------

    def _on_registry(self, event: CallEvent) -> None:
        if event.call.call_id != self.call_id:
            return
        if threading.get_ident() != self._thread and self._loop is not None:
            self._loop.call_soon_threadsafe(self._handle_registry, event)
        else:
            self._handle_registry(event)

    def _handle_registry(self, event: CallEvent) -> None:
        rec = self.recorder
        if event.kind == "answered":
            rec.event("call-answered")
        elif event.kind == "hangup-requested":
            rec.event("hangup-request", source=event.detail.get("source"))
        elif event.kind == "redirect-requested":
            rec.event("redirect", url=event.detail["redirect"].get("redirectUrl"))
            self._next = ("redirect", event.detail["redirect"])
            self._interrupt.set()
        elif event.kind == "bxml-replaced":
            rec.event("bxml-replaced", bytes=len(event.detail["bxml"]))
            self._next = ("bxml", event.detail["bxml"])
            self._interrupt.set()
        elif event.kind == "transferred":
            transfer = event.call.transfer
            rec.event(
                "transfer",
                targets=list(event.detail.get("targets", ())),
                b_leg=transfer.b_leg_call_id if transfer else None,
            )
            self._finish_call()
        elif event.kind == "ended":
            rec.event("call-ended", cause=event.detail.get("cause"))
            self._finish_call()

    def _finish_call(self) -> None:
        self.ended.set()
        self._interrupt.set()
        for driver in [*self._streams.values(), *self._extra_streams]:
            driver.stop()

    def _on_journal(self, entry: JournalEntry) -> None:
        if entry.call_id == self.call_id or (entry.route == "token" and not self.ended.is_set()):
            self.recorder.log(
                "api-request",
                method=entry.method,
                path=entry.path,
                route=entry.route,
                status=entry.status,
                body=entry.body[:300],
            )
            if entry.route != "token" and entry.call_id == self.call_id:
                self.recorder.event(
                    "api-request",
                    method=entry.method,
                    route=entry.route,
                    status=entry.status,
                )

    def _violation(self, kind: str, detail: str, **evidence: Any) -> None:
        self.fake.journal.violation(kind, detail, call_id=self.call_id, **evidence)
        self.violations.append({"kind": kind, "detail": detail, **evidence})
        self.recorder.event("violation", rule=kind, detail=detail)

    # -- running the call ------------------------------------------------------------

    async def run(self) -> CallResult:
        """Place the call and run it to its end; never longer than ``max_call_s``."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._unsubscribe.append(self.fake.registry.subscribe(self._on_registry))
        self._unsubscribe.append(self.fake.journal.subscribe(self._on_journal))
        own_client = self._client is None
        client = self._client or httpx.AsyncClient(trust_env=False)
        caller_task: asyncio.Task[None] | None = None
        try:
            try:
                async with asyncio.timeout(self.options.max_call_s):
                    document = await self._initiate(client)
                    if document is not None:
                        caller_task = asyncio.create_task(self._run_caller(), name="bwsim-caller")
                        await self._execute(client, document)
            except TimeoutError:
                self.errors.append(
                    f"the call was still up after max_call_s={self.options.max_call_s:g} s; "
                    "bwsim ended it (raise max_call_s for longer calls)"
                )
                self.recorder.event("note", detail="max_call_s reached; ending the call")
                self._end_if_active("hangup")
            await self._wind_down(client, caller_task)
        finally:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            if own_client:
                await client.aclose()
        return self._result()

    def _result(self) -> CallResult:
        requests = [
            e
            for e in self.fake.journal.since(self._journal_start)
            if e.call_id == self.call_id or e.route == "token"
        ]
        return CallResult(
            call_id=self.call_id,
            account_id=self.account_id,
            application_id=self.info.application_id,
            exchange=self.exchange,
            bxml_error=self.bxml_error,
            streams=[d.outcome for d in [*self._streams.values(), *self._extra_streams]],
            recorder=self.recorder,
            phase=self.call.phase.value,
            disconnect_cause=self.call.disconnect_cause,
            api_requests=requests,
            violations=self.violations,
            errors=self.errors,
        )

    def _end_if_active(self, cause: str, message: str | None = None) -> None:
        if self.call.phase not in (CallPhase.DISCONNECTED, CallPhase.TRANSFERRED):
            self.fake.registry.end(self.call_id, cause, message)
        else:
            self._finish_call()

    async def _initiate(self, client: httpx.AsyncClient) -> Any:
        opts = self.options
        fields: dict[str, Any] = initiate_body(self.info, datetime.now(UTC))
        if opts.initiate_overrides:
            fields.update(opts.initiate_overrides)
            fields = {k: v for k, v in fields.items() if v is not None}
        body: dict[str, Any] | bytes = fields if opts.initiate_raw is None else opts.initiate_raw
        url = self.bot_base_url + opts.webhook_path
        auth = WebhookAuth(opts.auth_mode, opts.webhook_username, opts.webhook_password)
        self.clock.restart()  # event times count from the webhook
        self.recorder.event("webhook-sent", url=url, auth=opts.auth_mode)
        exchange = await send_webhook(
            client,
            url,
            body,
            auth=auth,
            timeout_s=opts.webhook_timeout_s,
            signing_secret=opts.signing_secret,
            sync=True,
        )
        self.exchange = exchange
        self._log_exchange(exchange)
        if not exchange.delivered:
            self.recorder.event(
                "webhook-failed",
                outcome=exchange.outcome,
                status=exchange.final_status,
                rule=exchange.rule_broken,
            )
            self._end_if_active("callback-error", exchange.error)
            return None
        self.recorder.event(
            "webhook-answered",
            status=exchange.final_status,
            outcome=exchange.outcome,
            attempts=len(exchange.attempts),
        )
        if exchange.warning:
            self._violation("webhook-auth", exchange.warning, url=url, auth=opts.auth_mode)
        return self._parse(exchange, "webhook")

    def _parse(self, exchange: WebhookExchange, context: str) -> Any:
        text = exchange.bxml_text
        if text is None:
            detail = exchange.error or "the answer carried no BXML"
            self.bxml_error = detail
            self._violation("invalid-bxml", detail, rule=exchange.rule_broken)
            self._end_if_active("invalid-bxml", detail)
            return None
        try:
            return parse_bxml(text, context="webhook", strict_root=self.options.strict_root)
        except BxmlError as err:
            self.bxml_error = str(err)
            self._violation(
                "invalid-bxml",
                f"the bot's BXML ({context}) is invalid: {err}",
                rule=err.rule,
                line=err.line,
            )
            self._end_if_active("invalid-bxml", str(err))
            return None

    def _log_exchange(self, exchange: WebhookExchange) -> None:
        for attempt in exchange.attempts:
            self.recorder.log(
                "webhook",
                event_type=exchange.event_type,
                attempt=attempt.number,
                method=attempt.method,
                url=attempt.url,
                auth=attempt.auth_sent,
                status=attempt.status,
                elapsed_ms=round(attempt.elapsed_ms, 1),
                error=attempt.transport_error,
                response=attempt.response_body[:2000],
            )

    async def _run_caller(self) -> None:
        live = LiveCall(self)
        try:
            if self.caller_script is not None:
                await self.caller_script(live)
        except CallEnded:
            return
        except CallTimeout as exc:
            self.errors.append(f"caller script: {exc}")
        if not self.ended.is_set():
            self.caller_hangup()

    def caller_hangup(self) -> None:
        """The caller hangs up (a no-op once the call has ended)."""
        if not self.ended.is_set():
            self.recorder.event("note", detail="caller hangs up")
            self._end_if_active("hangup")

    def drop_streams(self) -> None:
        """Abort every open media connection without ``stop`` or a close frame."""
        for driver in self._streams.values():
            driver.drop()

    async def replay_stream(self, hold_ms: float) -> StreamOutcome:
        """Open another socket to the first stream's URL, as an attacker replaying its token.

        The extra stream is named ``replay``; if the bot accepts it, it is held open for
        ``hold_ms`` (so what the bot does with it is seen) and then stopped.
        """
        first = next(iter(self._streams.values()), None)
        if first is None:
            raise CallEnded("no stream was opened, so there is no stream URL to replay")
        config = replace(first.config, stream_id=new_stream_id(), stream_name="replay")
        driver = StreamDriver(
            config=config,
            destination=first.outcome.destination,
            url=first.url,
            headers=first.headers,
            caller=CallerSource(),
            recorder=self.recorder,
            on_violation=self._frame_violation,
            open_timeout_s=self.options.stream_open_timeout_s,
        )
        self._extra_streams.append(driver)
        task = asyncio.create_task(driver.run(), name="bwsim-replay")
        await asyncio.wait({task}, timeout=hold_ms / 1000)
        driver.stop()
        return await asyncio.wait_for(task, self.options.stream_open_timeout_s + 10)

    # -- BXML execution --------------------------------------------------------------

    async def _execute(self, client: httpx.AsyncClient, document: Any) -> None:
        steps = plan(document, self.bot_base_url + self.options.webhook_path)
        while True:
            finished = await self._run_steps(client, steps)
            if self.ended.is_set():
                return
            if finished:
                self.recorder.event("note", detail="BXML ran out: implicit hang-up")
                self._end_if_active("hangup")
                return
            following = await self._take_next(client)
            if following is None:
                return
            steps = following

    async def _take_next(self, client: httpx.AsyncClient) -> list[Step] | None:
        pending, self._next = self._next, None
        self._interrupt.clear()
        if pending is None:
            return []
        kind, value = pending
        if kind == "bxml":
            try:
                document = parse_bxml(value, context="update", strict_root=False)
            except BxmlError:
                return []  # the Voice API answered 400 already; nothing runs
            return plan(document, self.bot_base_url + self.options.webhook_path)
        return await self._redirect(client, str(value.get("redirectUrl")), value)

    async def _run_steps(self, client: httpx.AsyncClient, steps: list[Step]) -> bool:
        """Run steps in order; True when the document ran out, False when interrupted."""
        for step in steps:
            if self.ended.is_set() or self._interrupt.is_set():
                return False
            self.recorder.event("verb", verb=type(step).__name__, line=step.line)
            if isinstance(step, StartStream):
                self._answer()
                await self._start_stream(client, step)
            elif isinstance(step, Pause | Ring):
                if not isinstance(step, Ring) or step.answer:
                    self._answer()
                await self._hold(step.seconds, watch_orphan=True)
            elif isinstance(step, StopStream):
                if not await self._stop_stream(step):
                    return False
            elif isinstance(step, SpeakSentence):
                self._answer()
                self.recorder.log("speak", text=step.text[:500])
                await self._hold(speech_seconds(step.text))
            elif isinstance(step, Hangup):
                self._end_if_active("hangup")
                return False
            elif isinstance(step, Transfer):
                self._answer()
                self.fake.registry.transfer(self.call_id, step.targets, step.attributes)
                return False
            elif isinstance(step, Redirect):
                following = await self._redirect(client, step.url, None, step)
                return await self._run_steps(client, following) if following else False
            elif isinstance(step, Gather):
                self._answer()
                following = await self._gather(client, step)
                if following is not None:
                    return await self._run_steps(client, following)
            elif isinstance(step, Unsimulated):
                self.recorder.event("note", detail=f"<{step.verb}> is not simulated; skipped")
        return not (self.ended.is_set() or self._interrupt.is_set())

    def _answer(self) -> None:
        if self.call.phase is CallPhase.INITIATED:
            self.fake.registry.answer(self.call_id)

    async def _hold(self, seconds: float, *, watch_orphan: bool = False) -> None:
        """Hold the call for ``seconds``, or until it ends or is interrupted.

        With ``watch_orphan`` (a ``<Pause>``), a stream that closes while the call is held
        starts the orphan clock: the bot has ``orphan_grace_s`` to hang the call up.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not (self.ended.is_set() or self._interrupt.is_set()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            waits = [asyncio.ensure_future(self._interrupt.wait())]
            orphan_watch = watch_orphan and self._streams and not self._all_streams_closed.is_set()
            if orphan_watch:
                waits.append(asyncio.ensure_future(self._all_streams_closed.wait()))
            try:
                await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if orphan_watch and self._all_streams_closed.is_set() and not self.ended.is_set():
                if any(d.outcome.status == "accepted" for d in self._streams.values()):
                    await self._watch_orphan(deadline)
                    return
                watch_orphan = False  # no stream ever opened: the pause simply holds the call

    async def _watch_orphan(self, deadline: float) -> None:
        grace = self.options.orphan_grace_s
        loop = asyncio.get_running_loop()
        wait = min(grace, max(0.0, deadline - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._interrupt.wait(), wait)
        if self.ended.is_set() or self._interrupt.is_set() or loop.time() >= deadline:
            return
        self._violation(
            "orphaned-leg",
            f"the media stream ended while <Pause> held the call, and the bot did not hang "
            f"the call up within {grace:g} s: on Bandwidth the call would stay up, silent, "
            "until the pause ends. Hang the call up (POST {'state':'completed'}) when the "
            "stream ends.",
        )
        self.recorder.event("note", detail="bwsim ends the orphaned call")
        self._end_if_active("hangup")

    # -- streams ---------------------------------------------------------------------

    def _to_bot(self, url: str, scheme: str) -> str:
        """Point a URL from the bot's BXML at the bot on loopback, keeping path and query.

        The bot names itself by its public host (``PROXY_HOST``: an ngrok name in real
        life); bwsim never leaves loopback, so any host but an explicit loopback address
        with a port is taken to mean the bot under test.
        """
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        explicit = parts.port is not None and (host == "localhost" or _is_loopback_ip(host))
        netloc = parts.netloc if explicit else urlsplit(self.bot_base_url).netloc
        return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))

    def _stream_url(self, destination: str) -> str:
        """Map a ``<StartStream destination>`` to a ``ws://`` URL of the bot."""
        return self._to_bot(destination, "ws")

    def _http_url(self, url: str) -> str:
        """Map a webhook URL from BXML (``streamEventUrl``, ``redirectUrl`` …) to the bot."""
        return self._to_bot(url, urlsplit(self.bot_base_url).scheme)

    async def _start_stream(self, client: httpx.AsyncClient, step: StartStream) -> None:
        stream_id = new_stream_id()
        name = step.name or stream_id
        if name in self._streams:
            self.recorder.event("stream-rejected", cause="duplicate", stream=name)
            return
        config = StreamConfig(
            account_id=self.account_id,
            call_id=self.call_id,
            stream_id=stream_id,
            stream_name=name,
            tracks=step.tracks,
            bidirectional=step.bidirectional,
            stream_params=step.params or None,
            metadata_overrides=self.options.metadata_overrides,
            sequence_start=self.options.sequence_start,
        )
        headers = {}
        if step.username is not None and step.password is not None:
            headers["Authorization"] = _basic(step.username, step.password)
        driver = StreamDriver(
            config=config,
            destination=step.destination,
            url=self._stream_url(step.destination),
            headers=headers,
            caller=self.caller,
            recorder=self.recorder,
            on_violation=self._frame_violation,
            open_timeout_s=self.options.stream_open_timeout_s,
        )
        self._streams[name] = driver
        self._all_streams_closed.clear()
        info = StreamInfo(
            stream_id=stream_id,
            destination=step.destination,
            start_time=datetime.now(UTC),
            name=name,
            tracks=step.tracks,
        )
        self._stream_infos[name] = info
        task = asyncio.create_task(self._stream_life(client, driver, step, info), name=name)
        self._stream_tasks.append(task)
        self.fake.registry.stream_started(self.call_id, stream_id)

    async def _stream_life(
        self, client: httpx.AsyncClient, driver: StreamDriver, step: StartStream, info: StreamInfo
    ) -> StreamOutcome:
        stream_webhooks: list[asyncio.Task[None]] = []

        def on_open() -> None:
            if step.event_url:
                body = media_stream_started_body(self.info, info, datetime.now(UTC))
                stream_webhooks.append(
                    asyncio.create_task(self._async_webhook(client, step.event_url, body, step))
                )

        opened = asyncio.create_task(driver.opened.wait())
        opened.add_done_callback(lambda _: on_open())
        try:
            if self.options.stream_delay_s > 0:
                self.recorder.event(
                    "note", detail=f"bwsim waits {self.options.stream_delay_s:g} s to connect"
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._interrupt.wait(), self.options.stream_delay_s)
            outcome = await driver.run()
        finally:
            opened.cancel()
            self.fake.registry.stream_ended(self.call_id, info.stream_id)
            if all(d.closed.is_set() for d in self._streams.values()):
                self._all_streams_closed.set()
        if step.event_url:
            now = datetime.now(UTC)
            if outcome.status == "accepted":
                clean = outcome.closed_by == "simulator" or outcome.close_code == 1000
                cause, message = (
                    ("closed", None)
                    if clean
                    else (
                        "connection-error",
                        f"the WebSocket closed with code {outcome.close_code}",
                    )
                )
                body = media_stream_stopped_body(self.info, info, cause, now, message)
            else:
                body = media_stream_rejected_body(
                    self.info, info, "connection-error", outcome.error or "refused", now
                )
            stream_webhooks.append(
                asyncio.create_task(self._async_webhook(client, step.event_url, body, step))
            )
        if stream_webhooks:
            await asyncio.gather(*stream_webhooks)
        return outcome

    def _frame_violation(self, violation: FrameViolation) -> None:
        self._violation(
            f"media-{violation.rule}",
            violation.detail,
            rule=violation.rule,
            frame=violation.frame,
            at_ms=round(violation.at_ms, 1),
        )

    async def _stop_stream(self, step: StopStream) -> bool:
        """Run ``<StopStream>``; returns False if the call ended or was interrupted meanwhile."""
        driver = self._streams.get(step.name)
        if driver is None:
            self.recorder.event("note", detail=f"<StopStream name={step.name!r}>: no such stream")
            return True
        if not step.wait:
            driver.stop()
            return True
        # wait="true": BXML blocks here until the socket is closed (§1.3).
        closed = asyncio.ensure_future(driver.closed.wait())
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        try:
            await asyncio.wait([closed, interrupted], return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            interrupted.cancel()
        return not (self.ended.is_set() or self._interrupt.is_set())

    # -- webhooks that BXML triggers -------------------------------------------------

    async def _async_webhook(
        self, client: httpx.AsyncClient, url: str, body: dict[str, Any], step: StartStream
    ) -> None:
        has_creds = step.event_username is not None and step.event_password is not None
        auth = WebhookAuth(
            "challenge",
            step.event_username if has_creds else None,
            step.event_password if has_creds else None,
        )
        await self._send_async(client, self._http_url(url), body, auth)

    async def _send_async(
        self, client: httpx.AsyncClient, url: str, body: dict[str, Any], auth: WebhookAuth
    ) -> None:
        """Deliver an async webhook; retried once on a connection error, as Bandwidth does."""
        for _ in range(2):
            exchange = await send_webhook(
                client, url, body, auth=auth, timeout_s=self.options.webhook_timeout_s, sync=False
            )
            self._log_exchange(exchange)
            if exchange.outcome != "connection-error":
                return

    async def _redirect(
        self,
        client: httpx.AsyncClient,
        url: str,
        update: Mapping[str, Any] | None,
        step: Redirect | None = None,
    ) -> list[Step] | None:
        username = (update or {}).get("username") or (step.username if step else None)
        password = (update or {}).get("password") or (step.password if step else None)
        return await self._sync_webhook(
            client, url, redirect_body(self._answered_info(), datetime.now(UTC)), username, password
        )

    async def _gather(self, client: httpx.AsyncClient, step: Gather) -> list[Step] | None:
        for prompt in step.prompts:
            await self._hold(speech_seconds(prompt.text))
        digits = self.options.digits[: step.max_digits]
        terminator = None
        for i, digit in enumerate(digits):
            if digit in step.terminating_digits:
                digits, terminator = digits[:i], digit
                break
        if not digits and terminator is None:
            await self._hold(step.first_digit_timeout_s)
        self.recorder.log("gather", digits=digits, terminating_digit=terminator)
        if not step.url:
            return None
        body = gather_body(self._answered_info(), digits, terminator, datetime.now(UTC))
        return await self._sync_webhook(client, step.url, body, step.username, step.password)

    def _answered_info(self) -> CallInfo:
        return replace(self.info, answer_time=self.call.answer_time)

    async def _sync_webhook(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: dict[str, Any],
        username: str | None,
        password: str | None,
    ) -> list[Step] | None:
        has_creds = username is not None and password is not None
        auth = WebhookAuth(
            "challenge", username if has_creds else None, password if has_creds else None
        )
        target = self._http_url(url)
        exchange = await send_webhook(
            client, target, body, auth=auth, timeout_s=self.options.webhook_timeout_s, sync=True
        )
        self._log_exchange(exchange)
        if not exchange.delivered:
            self._violation(
                "callback-error",
                exchange.error or f"the {body.get('eventType')} webhook was not delivered",
                url=target,
            )
            self._end_if_active("callback-error", exchange.error)
            return None
        document = self._parse(exchange, str(body.get("eventType")))
        return None if document is None else plan(document, url)

    # -- the end ---------------------------------------------------------------------

    async def _wind_down(
        self, client: httpx.AsyncClient, caller_task: asyncio.Task[None] | None
    ) -> None:
        self._finish_call()
        if self._stream_tasks:
            _, pending = await asyncio.wait(self._stream_tasks, timeout=15)
            for task in pending:
                task.cancel()
                self.errors.append(f"stream {task.get_name()} did not close within 15 s")
        self._settle()
        if caller_task is not None:
            # The caller script may still act on the end (e.g. check a late hang-up's 404).
            await asyncio.wait([caller_task], timeout=CALLER_GRACE_S)
            caller_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await caller_task
        if self.options.disconnect_path and self.call.phase is CallPhase.DISCONNECTED:
            end = self.call.end_time or datetime.now(UTC)
            body = disconnect_body(
                self._answered_info(),
                self.call.disconnect_cause or "hangup",
                end,
                self.call.error_message if self.call.disconnect_cause != "hangup" else None,
            )
            auth = WebhookAuth(
                "challenge", self.options.webhook_username, self.options.webhook_password
            )
            await self._send_async(
                client, self.bot_base_url + self.options.disconnect_path, body, auth
            )
