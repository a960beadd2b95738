"""One inbound call, end to end: the asyncio shell around the BXML runner.

:class:`CallSession` registers the call, sends ``initiate`` and parses the answer, then
lets :class:`~simulator.protocol.bxml_runner.BxmlRunner` decide what Bandwidth does: it
feeds the runner events (Voice API interrupts from the registry, streams closing,
webhook answers, timers) and carries out its commands (streams through
:class:`~simulator.call.streams.CallStreams`, webhooks through
:class:`~simulator.call.bot_webhooks.BotWebhooks`, timers on the event loop), while the
caller's script runs alongside. Everything is recorded on one clock; the whole call is
bounded by ``max_call_s``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from simulator.call.bot_webhooks import BotWebhooks
from simulator.call.live import CallEnded, Caller, LiveCall
from simulator.call.observe import planned_update, record_call_event, record_journal_entry
from simulator.call.options import CallOptions
from simulator.call.recorder import CallClock, CallRecorder, TimelineEvent
from simulator.call.result import CallResult
from simulator.call.stream import StreamOutcome
from simulator.call.streams import CallStreams
from simulator.call.tasks import reap
from simulator.call.transfer import DROPPED_DETAIL, CallTransfer
from simulator.call.verb_audio import VerbAudio
from simulator.call.waiters import TimelineWaiters
from simulator.call.webhook_sender import WEBHOOK_LIMITS
from simulator.errors import CallTimeout
from simulator.protocol import bxml_runner as bx
from simulator.protocol.media import CallerSource
from simulator.protocol.urls import http_url
from simulator.protocol.verb_audio import FetchAudio, PlayVerbAudio
from simulator.protocol.verbs import Gather, StartGather, Step, Transfer
from simulator.protocol.webhook_auth import WebhookAuth
from simulator.protocol.webhook_bodies import (
    CallInfo,
    dtmf_body,
    gather_body,
    redirect_body,
    transfer_complete_body,
)
from simulator.rest.fake import FakeBandwidth
from simulator.rest.journal import (
    MAX_REQUESTS_PER_ROUTE,
    MAX_VIOLATIONS_PER_RULE,
    JournalEntry,
    Violation,
)
from simulator.rest.registry import Call, CallEvent, CallPhase, HangupRequested, Transferred
from simulator.rest.routes import Route

__all__ = ["CallSession"]

CALLER_GRACE_S = 5.0
"""How long the caller script may go on after the call has ended and its streams closed."""
STREAM_CLOSE_S = 15.0
"""How long a call's streams may take to close once it has ended."""


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
        call: Call | None = None,
    ) -> None:
        self.fake = fake
        self.bot_base_url = bot_base_url.rstrip("/")
        self.options = opts = options or CallOptions()
        self._document_url = self.bot_base_url + opts.webhook_path
        self.caller_script = caller
        self._client = client
        account = fake.registry.accounts[account_id] if account_id else fake.default_account
        self.clock = CallClock()
        self.recorder = CallRecorder(self.clock)
        self._waiters = TimelineWaiters(self.recorder)
        self.call = call = call or fake.registry.create_call(
            account.account_id, from_=opts.from_, to=opts.to
        )
        call.transfer_stream = opts.transfer_stream
        self.call_id = call.call_id
        self.account_id = call.account_id
        self.info = CallInfo(
            account_id=call.account_id,
            application_id=call.application_id,
            call_id=call.call_id,
            from_=call.from_,
            to=call.to,
            start_time=call.start_time,
            direction="outbound" if call.direction == "outbound" else "inbound",
            tag=call.tag,
        )
        self.tag: str | None = call.tag
        """The call's tag (Create Call's ``tag``, then ``<Tag>``, a verb's ``tag``, Update
        Call's ``tag``), sent with every later webhook that has the field."""
        self.caller = CallerSource()
        self.ended = asyncio.Event()
        self.errors: list[str] = []
        self.violations: list[Violation] = []
        self.webhooks = BotWebhooks(self.recorder, opts, self._violation, self.bot_base_url)
        self._runner = bx.BxmlRunner(orphan_grace_s=opts.orphan_grace_s)
        self.verb_audio = VerbAudio(self.recorder, opts, self.bot_base_url)
        """What the caller hears during <SpeakSentence>, <PlayAudio> and <Ring>."""
        self._events: asyncio.Queue[bx.Event] = asyncio.Queue()
        self._dtmf_sent: asyncio.Task[None] | None = None
        """The last ``dtmf`` webhook in flight; each waits for the one before (in order)."""
        self._transfer: tuple[CallTransfer, asyncio.Task[None]] | None = None
        """The ``<Transfer>`` running, and the task that plays its B-legs."""
        self._transfer_tasks: list[asyncio.Task[None]] = []
        """Every transfer's task, reaped at the end (a replaced one may still be ending)."""
        self._left_to_transfer = False
        """A transfer took the caller and the bot's BXML never ran again after it."""
        self._api_hangup = False
        """The Voice API was asked to hang the call up (the bot, not the caller)."""
        self.streams = CallStreams(
            registry=fake.registry,
            info=self.info,
            options=opts,
            recorder=self.recorder,
            caller=self.caller,
            bot_base_url=self.bot_base_url,
            ended=self.ended,
            send_async=self.webhooks.send_async,
            current_info=self.current_info,
            violation=self._violation,
            on_closed=lambda name, accepted: self._events.put_nowait(
                bx.StreamClosed(name, accepted)
            ),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()
        self._journal_start = fake.journal.last_seq
        self._unsubscribe: list[Callable[[], None]] = []
        if opts.caller_lines:
            fake.caller_lines[self.call_id] = list(opts.caller_lines)

    def current_info(self) -> CallInfo:
        """The call as its next webhook describes it: answered when it was, with its tag."""
        return replace(self.info, answer_time=self.call.answer_time, tag=self.tag)

    def _set_tag(self, value: str | None) -> None:
        """Take a verb's ``tag`` (None: the verb had none; ``""`` clears the call's)."""
        if value is not None:
            self.tag = value or None

    async def wait_for(
        self,
        kind: str,
        *,
        timeout_ms: float,
        after_ms: float | None = None,
        where: Callable[[TimelineEvent], bool] | None = None,
    ) -> TimelineEvent:
        """See :meth:`LiveCall.wait_for`."""
        return await self._waiters.wait_for(
            kind, timeout_ms=timeout_ms, after_ms=after_ms, where=where
        )

    # -- registry and journal events -------------------------------------------------

    def _on_registry(self, event: CallEvent) -> None:
        if event.call.call_id != self.call_id:
            return
        if threading.get_ident() != self._thread and self._loop is not None:
            self._loop.call_soon_threadsafe(self._handle_registry, event)
        else:
            self._handle_registry(event)

    def _handle_registry(self, event: CallEvent) -> None:
        update = functools.partial(planned_update, base_url=self._document_url)
        if isinstance(event, HangupRequested):
            self._api_hangup = True
        elif isinstance(event, Transferred) and self.call.transfer_stream == "ends":
            self.streams.stop_all()  # the guide's account (docs/bandwidth.md §5.5)
        match record_call_event(self.recorder, event, update):
            case bx.Ended() as end:
                self._finish_call(end)
            case None:
                pass
            case interrupt:
                self._events.put_nowait(interrupt)

    def _finish_call(self, event: bx.Event | None = None) -> None:
        self.verb_audio.cut()
        self.ended.set()
        self._events.put_nowait(event or bx.Ended())
        self.streams.stop_all()

    def _on_journal(self, entry: JournalEntry) -> None:
        record_journal_entry(self.recorder, self.call_id, entry, ended=self.ended.is_set())

    def _violation(self, kind: str, detail: str, **evidence: Any) -> None:
        v = self.fake.journal.violation(kind, detail, call_id=self.call_id, **evidence)
        if sum(1 for kept in self.violations if kept.kind == kind) >= MAX_VIOLATIONS_PER_RULE:
            return  # counted by the journal (Journal.not_kept), kept nowhere
        self.violations.append(v)
        self.recorder.event("violation", rule=kind, detail=detail)

    # -- running the call ------------------------------------------------------------

    async def run(self) -> CallResult:
        """Place the call and run it to its end; never longer than ``max_call_s``."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._unsubscribe.append(self.fake.registry.subscribe(self._on_registry))
        self._unsubscribe.append(self.fake.journal.subscribe(self._on_journal))
        own_client = self._client is None
        client = self._client or httpx.AsyncClient(trust_env=False, limits=WEBHOOK_LIMITS)
        caller_task: asyncio.Task[None] | None = None
        try:
            try:
                async with asyncio.timeout(self.options.max_call_s):
                    steps = await self._initiate(client)
                    if steps is not None:
                        caller_task = asyncio.create_task(self._run_caller(), name="bwsim-caller")
                        await self._execute(client, steps)
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
        journal = self.fake.journal
        for (call, route), n in journal.requests_not_kept.counts.items():
            if call == self.call_id:
                at = self.clock.at(journal.requests_not_kept.first_at[(call, route)])
                self.recorder.event(
                    "note",
                    at_ms=at,
                    detail=f"the journal keeps the first {MAX_REQUESTS_PER_ROUTE:,} {route} "
                    f"requests of a call; {n:,} later ones were counted, not kept",
                )
        requests = [
            e
            for e in self.fake.journal.since(self._journal_start)
            if e.call_id == self.call_id or e.route == Route.TOKEN
        ]
        return CallResult(
            call_id=self.call_id,
            account_id=self.account_id,
            application_id=self.info.application_id,
            exchange=self.webhooks.exchange,
            bxml_error=self.webhooks.bxml_error,
            streams=self.streams.outcomes,
            recorder=self.recorder,
            # A caller a transfer took, and the bot never took back, ended "transferred".
            phase="transferred" if self._left_to_transfer else self.call.phase.value,
            disconnect_cause=self.call.disconnect_cause,
            api_requests=requests,
            violations=self.violations,
            errors=self.errors,
            violations_not_kept=journal.not_kept_for(self.call_id),
            violations_not_kept_since=journal.not_kept_since_for(self.call_id),
            requests_not_kept=journal.requests_not_kept_for(self.call_id),
            callbacks=self.webhooks.callbacks,
        )

    def _end_if_active(self, cause: str, message: str | None = None) -> None:
        if self.call.phase is not CallPhase.DISCONNECTED:
            self.fake.registry.end(self.call_id, cause, message)
        else:
            self._finish_call()

    async def _initiate(self, client: httpx.AsyncClient) -> list[Step] | None:
        self.clock.restart()  # event times count from the webhook
        answer = await self.webhooks.initiate(client, self._document_url, self.info)
        if isinstance(answer, bx.WebhookFailed):
            self._end_if_active(answer.cause, answer.message)
            return None
        return list(answer.steps)

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

    def press_digit(self, digit: str) -> None:
        """The caller presses one DTMF key (a no-op once the call has ended)."""
        if not self.ended.is_set():
            self.recorder.event("dtmf", digit=digit)
            self._events.put_nowait(bx.DigitPressed(digit))

    def drop_streams(self) -> None:
        """Abort every open media connection without ``stop`` or a close frame."""
        self.streams.drop_all()

    async def replay_stream(self, hold_ms: float) -> StreamOutcome:
        """Open another socket to the first stream's URL, as an attacker replaying its token.

        The extra stream is named ``replay``; if the bot accepts it, it is held open for
        ``hold_ms`` (so what the bot does with it is seen) and then stopped.
        """
        outcome = await self.streams.replay(hold_ms)
        if outcome is None:
            raise CallEnded("no stream was opened, so there is no stream URL to replay")
        return outcome

    # -- BXML execution: the runner decides, this shell acts -----------------------------

    async def _execute(self, client: httpx.AsyncClient, steps: list[Step]) -> None:
        """Feed the runner events until it is done, carrying out each command in order."""
        loop = asyncio.get_running_loop()
        timer: float | None = None
        # Interrupts that came during ``initiate`` are queued first: they win over its BXML.
        self._events.put_nowait(bx.Started(tuple(steps)))
        while not self._runner.done:
            if not self._events.empty():
                event = self._events.get_nowait()
            else:
                timeout = None if timer is None else max(0.0, timer - loop.time())
                try:
                    event = await asyncio.wait_for(self._events.get(), timeout)
                except TimeoutError:
                    timer, event = None, bx.TimerFired()
            if self.ended.is_set() or self.call.phase is CallPhase.DISCONNECTED:
                # The end goes before anything still queued (the Voice API, in another
                # thread, may have ended the call before we hear of it).
                event = bx.Ended()
            if isinstance(event, bx.Redirected | bx.BxmlReplaced):
                self.verb_audio.cut()  # the running verb ends (docs/bandwidth.md §3.1)
            self.verb_audio.settle()
            for command in self._runner.handle(event, loop.time()):
                if isinstance(command, bx.SetTimer):
                    timer = command.at
                elif isinstance(command, bx.SendWebhook):
                    # Events that come while it is in flight are queued before its answer.
                    self._events.put_nowait(await self._fetch(client, command))
                elif isinstance(command, FetchAudio):
                    self._events.put_nowait(await self.verb_audio.fetch(client, command.step))
                elif isinstance(command, PlayVerbAudio):
                    self.verb_audio.play(command)
                else:
                    self._carry_out(client, command)

    def _carry_out(self, client: httpx.AsyncClient, command: bx.Command) -> None:
        rec = self.recorder
        match command:
            case bx.VerbStarted(step=step):
                self._take_back()
                rec.event("verb", verb=type(step).__name__, line=step.line)
                if isinstance(step, Gather):
                    rec.event("gather-start", line=step.line, url=step.url)
            case bx.GatherEnded(step=step, result=r):
                rec.event(
                    "gather",
                    digits=r.digits,
                    terminating_digit=r.terminating_digit,
                    reason=r.reason,
                    prompts_played=r.prompts_played,
                    url=step.url,
                )
            case bx.SendDtmf(step=step, digit=digit):
                self._send_dtmf(client, step, digit)
            case bx.Note(text=text):
                rec.event("note", detail=text)
            case bx.Trace(kind=kind, fields=fields):
                rec.log(kind, **fields)
            case bx.Answer():
                if self.call.phase is CallPhase.INITIATED:
                    self.fake.registry.answer(self.call_id)
            case bx.OpenStream(step=step, stream_id=stream_id, name=name):
                self.streams.open(client, step, stream_id, name)
            case bx.RejectStream():
                self.streams.reject(client, command)
            case bx.CloseStream(name=name):
                self.streams.stop(name)
            case bx.SetTag(value=value):
                self._set_tag(value)
            case bx.HangUp(cause=cause, message=message):
                self._end_if_active(cause, message)
            case bx.TransferCall(step=step):
                self._start_transfer(client, step)
            case bx.EndTransfer():
                if self._transfer is not None:
                    self._transfer[0].end()
            case bx.ReportOrphanedLeg(detail=detail):
                self._violation("orphaned-leg", detail)
            case _:
                pass  # timers and webhooks are the loop's; Done needs nothing

    def _take_back(self) -> None:
        """The bot's BXML runs on the call again: a transfer no longer holds it."""
        if self._left_to_transfer:
            self._left_to_transfer = False
            self.fake.registry.take_back(self.call_id)

    def _start_transfer(self, client: httpx.AsyncClient, step: Transfer) -> None:
        """Dial the targets of ``step``; the runner hears :class:`bx.TransferEnded` after."""
        if self.call.phase is CallPhase.DISCONNECTED:
            return
        if not self.call.transferring:  # a PUT …/bxml <Transfer> is recorded already
            self.fake.registry.transfer(self.call_id, step.targets, step.attributes)
        record = self.call.transfer
        assert record is not None
        transfer = CallTransfer(
            registry=self.fake.registry,
            a_leg=self.current_info(),
            step=step,
            party=self.options.transfer,
            webhooks=self.webhooks,
            recorder=self.recorder,
            a_leg_ended=self.ended,
            hung_up_by_bot=lambda: self._api_hangup,
            bot_base_url=self.bot_base_url,
        )
        self._left_to_transfer = True

        async def run() -> None:
            outcome = await transfer.run(client, record.b_leg_call_id)
            # New BXML may have started another transfer meanwhile: only the current one
            # ends the call's transfer and hands the document back to the runner.
            current = self._transfer is not None and self._transfer[0] is transfer
            if current:
                self.fake.registry.transfer_ended(self.call_id)
            if transfer.dropped is not None:
                detail = DROPPED_DETAIL.format(when=transfer.dropped)
                self._violation("transferred-caller-dropped", detail)
            self.recorder.event(
                "transfer-ended", cause=outcome.cause, bridged=outcome.bridged, to=outcome.to
            )
            if current and not self.ended.is_set():
                self._events.put_nowait(bx.TransferEnded())

        task = asyncio.create_task(run(), name="bwsim-transfer")
        self._transfer = transfer, task
        self._transfer_tasks.append(task)

    def _send_dtmf(self, client: httpx.AsyncClient, step: StartGather, digit: str) -> None:
        """Send the ``dtmf`` webhook of one key without holding the call, after the last."""
        info = replace(self.info, answer_time=self.call.answer_time)
        body = dtmf_body(info, digit, datetime.now(UTC))
        has_creds = step.username is not None and step.password is not None
        auth = WebhookAuth("challenge", *((step.username, step.password) if has_creds else ()))
        url = http_url(step.url, self.bot_base_url)
        before = self._dtmf_sent

        async def send() -> None:
            if before is not None:
                await asyncio.wait([before])
            await self.webhooks.send_async(client, url, body, auth)
            self.recorder.event("dtmf-webhook", digit=digit, url=url)

        self._dtmf_sent = asyncio.create_task(send(), name="bwsim-dtmf")

    async def _fetch(
        self, client: httpx.AsyncClient, command: bx.SendWebhook
    ) -> bx.WebhookAnswered | bx.WebhookFailed:
        self._set_tag(command.tag)
        info = self.current_info()
        now = datetime.now(UTC)
        if command.event == "redirect":
            body = redirect_body(info, now)
        elif command.event == "transferComplete":
            self._take_back()  # the bot's transferComplete BXML decides
            assert self._transfer is not None
            transfer = self._transfer[0]
            outcome = transfer.outcome
            assert outcome is not None  # the runner asks for it only once the transfer ended
            body = transfer_complete_body(
                info,
                outcome.to,
                outcome.cause,
                now,
                transfer_caller_id=transfer.step.caller_id,
                error_message=outcome.error_message,
            )
        else:
            body = gather_body(info, command.digits, command.terminating_digit, now)
        return await self.webhooks.fetch_bxml(
            client,
            command.url,
            body,
            command.username,
            command.password,
            method=command.method,
            fallback=command.fallback,
        )

    # -- the end ---------------------------------------------------------------------

    async def _wind_down(
        self, client: httpx.AsyncClient, caller_task: asyncio.Task[None] | None
    ) -> None:
        self._finish_call()
        for task in self._transfer_tasks:  # B-legs end with the A-leg; their webhooks go out
            await reap(task, grace_s=STREAM_CLOSE_S)
        if self._dtmf_sent is not None:  # its webhooks go out in order, bounded by the timeout
            await asyncio.wait([self._dtmf_sent])
        self.errors.extend(await self.streams.wind_down(STREAM_CLOSE_S))
        self._waiters.settle()
        if caller_task is not None:
            # The caller script may still act on the end (e.g. check a late hang-up's 404).
            await reap(caller_task, grace_s=CALLER_GRACE_S)
        if self.options.disconnect_path and self.call.phase is CallPhase.DISCONNECTED:
            url = self.bot_base_url + self.options.disconnect_path
            await self.webhooks.disconnect(client, url, self.current_info(), self.call)
