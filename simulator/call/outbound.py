"""One outbound call, end to end: the bot dials, bwsim plays the callee.

:func:`run_outbound_call` asks the bot to dial (the scenario's ``trigger`` request), waits
for the bot to create the call through the Voice API within a budget, then runs an
:class:`OutboundSession`: the callee's phone rings, then it answers (or is busy, does not
answer, rejects), ``answer`` goes to the request's ``answerUrl`` with its method and
credentials (docs/bandwidth.md §2.4), and the BXML it returns runs exactly as an inbound
call's ``initiate`` answer does (the machinery of :class:`~simulator.call.session.CallSession`):
the streams carry the callee's audio, the caller script is the callee's. When the call
ends, ``disconnect`` goes to the request's ``disconnectUrl`` with the cause (§2.5).
URLs on the bot's public host are mapped to the bot on loopback as ``<StartStream
destination>`` is (:mod:`simulator.protocol.urls`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from simulator.call.bot_webhooks import Delivery
from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.recorder import CallClock, CallRecorder
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.call.tasks import reap
from simulator.call.webhook_sender import WebhookExchange, send_webhook
from simulator.protocol import bxml_runner as bx
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.create_call import CalleePlan, CreateCall, detection_mode
from simulator.protocol.urls import http_url
from simulator.protocol.verbs import Step, plan
from simulator.protocol.webhook_auth import WebhookAuth
from simulator.protocol.webhook_bodies import answer_body
from simulator.rest.fake import FakeBandwidth
from simulator.rest.outbound import PlacedCall
from simulator.rest.registry import CallPhase

__all__ = ["DEFAULT_CREATE_WITHIN_S", "OutboundSession", "OutboundTrigger", "run_outbound_call"]

DEFAULT_CREATE_WITHIN_S = 10.0
"""How long the bot has, after the trigger request, to create the call."""
TRIGGER_TIMEOUT_S = 15.0
"""How long the trigger request may take to be answered."""


@dataclass(frozen=True)
class OutboundTrigger:
    """The request to the bot that makes it dial out (``call.trigger`` in a scenario)."""

    method: str = "POST"
    path: str = "/dial"
    json: Any = None
    create_within_s: float = DEFAULT_CREATE_WITHIN_S
    """The budget: the bot must create the call within this many seconds of the request."""

    def describe(self) -> str:
        """The request in words, for messages."""
        return f"{self.method} {self.path}"


class OutboundSession(CallSession):
    """Play the callee of the outbound call ``placed`` that the bot at ``bot_base_url`` made."""

    def __init__(
        self,
        fake: FakeBandwidth,
        bot_base_url: str,
        placed: PlacedCall,
        callee: CalleePlan,
        *,
        options: CallOptions | None = None,
        caller: Caller | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        # The request's disconnectUrl (below), and its callbackTimeout for every webhook.
        opts = replace(
            options or CallOptions(),
            disconnect_path=None,
            webhook_timeout_s=placed.request.callback_timeout_s,
        )
        super().__init__(
            fake, bot_base_url, options=opts, caller=caller, client=client, call=placed.call
        )
        self.request: CreateCall = placed.request
        self.callee = callee
        self._detection: asyncio.Task[None] | None = None

    async def _initiate(self, client: httpx.AsyncClient) -> list[Step] | None:
        """Ring, then answer and fetch the bot's BXML from ``answerUrl``, or end the call."""
        self.clock.restart()
        ring_s = self.callee.ring_s(self.request)
        self.recorder.event(
            "note",
            detail=f"the callee's phone rings for {ring_s * 1000:g} ms, then: {self.callee.answer}",
        )
        if self.call.active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ended.wait(), ring_s)
        if self.ended.is_set() or not self.call.active:
            self._finish_call()  # the bot cancelled the call while it rang
            return None
        cause = self.callee.end_cause
        if cause is not None:
            self._end_if_active(cause)
            return None
        self.fake.registry.answer(self.call_id)
        if self.callee.answer == "machine":
            self.recorder.event("note", detail="an answering machine picks up")
        answer = await self._answer_webhook(client)
        if isinstance(answer, bx.WebhookFailed):
            self._end_if_active(answer.cause, answer.message)
            return None
        return list(answer.steps)

    async def _answer_webhook(
        self, client: httpx.AsyncClient
    ) -> bx.WebhookAnswered | bx.WebhookFailed:
        """Send ``answer`` (then ``answerFallbackUrl`` if it fails) and plan its BXML."""
        req = self.request
        body = answer_body(replace(self.info, answer_time=self.call.answer_time), datetime.now(UTC))
        if detection_mode(req) == "sync":  # the answer waits for the result and carries it
            body["machineDetectionResult"] = self.callee.machine_detection_result()
        tries = [(req.answer_url, req.answer_method, req.username, req.password)]
        if req.answer_fallback_url:
            tries.append(
                (
                    req.answer_fallback_url,
                    req.answer_fallback_method,
                    req.fallback_username,
                    req.fallback_password,
                )
            )
        exchange: WebhookExchange | None = None
        for public_url, method, username, password in tries:
            url = http_url(public_url, self.bot_base_url)
            auth = WebhookAuth("challenge", username, password)
            self.recorder.event("webhook-sent", url=url, auth="challenge", event="answer")
            exchange = await send_webhook(
                client,
                url,
                body,
                auth=auth,
                method="GET" if method == "GET" else "POST",
                timeout_s=req.callback_timeout_s,
                signing=self.webhooks.signing_for(method),
                sync=True,
            )
            self.webhooks.exchange = exchange
            self.webhooks.log(exchange)
            if exchange.delivered:
                break
            self.recorder.event(
                "webhook-failed",
                outcome=exchange.outcome,
                status=exchange.final_status,
                rule=exchange.rule_broken,
            )
        assert exchange is not None  # tries is never empty
        if not exchange.delivered:
            return bx.WebhookFailed("callback-error", exchange.error)
        self.recorder.event(
            "webhook-answered",
            status=exchange.final_status,
            outcome=exchange.outcome,
            attempts=len(exchange.attempts),
        )
        if detection_mode(req) == "async":
            self._detection = asyncio.create_task(
                self._detection_complete(client), name="bwsim-machine-detection"
            )
        return self._plan_answer(exchange, req.answer_url)

    async def _detection_complete(self, client: httpx.AsyncClient) -> None:
        """Send ``machineDetectionComplete`` (async mode) to the detection's ``callbackUrl``.

        Without a ``callbackUrl`` it goes to ``answerUrl``; its answer is not run as BXML
        (docs/bandwidth.md §4.7 lists both as bwsim's choices).
        """
        req = self.request
        detection = req.machine_detection or {}
        body = answer_body(replace(self.info, answer_time=self.call.answer_time), datetime.now(UTC))
        body["eventType"] = "machineDetectionComplete"
        body.pop("sipCallId", None)
        body["machineDetectionResult"] = self.callee.machine_detection_result()
        url = http_url(str(detection.get("callbackUrl") or req.answer_url), self.bot_base_url)
        username = detection.get("username", req.username)
        password = detection.get("password", req.password)
        method = str(detection.get("callbackMethod") or "POST").upper()
        exchange = await send_webhook(
            client,
            url,
            body,
            auth=WebhookAuth("challenge", username, password),
            method="GET" if method == "GET" else "POST",
            timeout_s=req.callback_timeout_s,
            signing=self.webhooks.signing_for(method),
            sync=False,
        )
        self.webhooks.log(exchange)

    def _plan_answer(
        self, exchange: WebhookExchange, base_url: str
    ) -> bx.WebhookAnswered | bx.WebhookFailed:
        text = exchange.bxml_text
        if text is None:
            detail = exchange.error or "the answer carried no BXML"
            self.webhooks.bxml_error = detail
            self._violation("invalid-bxml", detail, rule=exchange.rule_broken)
            return bx.WebhookFailed("invalid-bxml", detail)
        try:
            document = parse_bxml(text, context="webhook", strict_root=self.options.strict_root)
        except BxmlError as err:
            self.webhooks.bxml_error = str(err)
            self._violation(
                "invalid-bxml",
                f"the bot's BXML (answer) is invalid: {err}",
                rule=err.rule,
                line=err.line,
            )
            return bx.WebhookFailed("invalid-bxml", str(err))
        return bx.WebhookAnswered(tuple(plan(document, base_url)))

    async def _wind_down(
        self, client: httpx.AsyncClient, caller_task: asyncio.Task[None] | None
    ) -> None:
        await super()._wind_down(client, caller_task)
        if self._detection is not None:  # sent before disconnect; its own timeout bounds it
            await self._detection
        req = self.request
        if req.disconnect_url is None or self.call.phase is not CallPhase.DISCONNECTED:
            return
        url = http_url(req.disconnect_url, self.bot_base_url)
        method: Literal["GET", "POST"] = "GET" if req.disconnect_method == "GET" else "POST"
        target = Delivery(url, method, req.username, req.password)
        await self.webhooks.disconnect(client, url, self.current_info(), self.call, target)


def _not_placed(fake: FakeBandwidth, since: int, message: str) -> CallResult:
    """The result of an outbound call the bot never created: one error, saying why."""
    recorder = CallRecorder(CallClock())
    recorder.event("note", detail=message)
    account = fake.default_account
    return CallResult(
        call_id="",
        account_id=account.account_id,
        application_id=account.application_id,
        exchange=None,
        bxml_error=None,
        streams=[],
        recorder=recorder,
        phase="not-created",
        disconnect_cause=None,
        api_requests=list(fake.journal.since(since)),
        violations=[],
        errors=[message],
    )


async def _trigger(client: httpx.AsyncClient, url: str, trigger: OutboundTrigger) -> str | None:
    """Make the trigger request; returns what went wrong with it, or None."""
    try:
        response = await client.request(
            trigger.method, url, json=trigger.json, timeout=TRIGGER_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        return f"the trigger request {trigger.describe()} failed: {type(exc).__name__}: {exc}"
    if response.status_code >= 400:
        return (
            f"the bot answered the trigger request {trigger.describe()} with {response.status_code}"
        )
    return None


async def run_outbound_call(
    fake: FakeBandwidth,
    bot_base_url: str,
    trigger: OutboundTrigger,
    callee: CalleePlan,
    *,
    options: CallOptions | None = None,
    caller: Caller | None = None,
    client: httpx.AsyncClient | None = None,
    dial_lock: asyncio.Lock | None = None,
) -> CallResult:
    """Ask the bot to dial with ``trigger``, then play the callee of the call it creates.

    If the bot creates no call within ``trigger.create_within_s`` the result carries one
    error naming the budget (and what the trigger request got); nothing waits longer.
    ``dial_lock``, shared by the calls on one fake, keeps their triggers one at a time, so
    that each created call is paired with the call that asked for it.
    """
    loop = asyncio.get_running_loop()
    placed: asyncio.Future[PlacedCall] = loop.create_future()

    def settle(call: PlacedCall) -> None:
        if not placed.done():
            placed.set_result(call)

    def take(call: PlacedCall) -> None:
        loop.call_soon_threadsafe(settle, call)

    since = fake.journal.last_seq
    own_client = client is None
    http = client or httpx.AsyncClient(trust_env=False)
    url = bot_base_url.rstrip("/") + trigger.path
    trigger_task: asyncio.Task[str | None] | None = None
    try:
        # One trigger at a time per fake: each created call goes to the call that asked.
        async with dial_lock or contextlib.nullcontext():
            withdraw = fake.outbound.expect(take)
            try:
                trigger_task = asyncio.create_task(
                    _trigger(http, url, trigger), name="bwsim-trigger"
                )
                done, _ = await asyncio.wait({placed}, timeout=trigger.create_within_s)
            finally:
                withdraw()
        if not done:
            trigger_problem = trigger_task.result() if trigger_task.done() else None
            message = (
                f"the bot created no outbound call within {trigger.create_within_s:g} s of "
                f"the trigger request {trigger.describe()} (the budget: "
                "call.trigger.create_within_ms)"
            )
            if trigger_problem:
                message += f"; {trigger_problem}"
            return _not_placed(fake, since, message)
        session = OutboundSession(
            fake, bot_base_url, placed.result(), callee, options=options, caller=caller, client=http
        )
        result = await session.run()
        trigger_problem = await _settled(trigger_task)
        if trigger_problem:
            result.errors.append(trigger_problem)
        return result
    finally:
        if trigger_task is not None and not trigger_task.done():
            await reap(trigger_task)
        if own_client:
            await http.aclose()


async def _settled(task: asyncio.Task[str | None]) -> str | None:
    """The trigger's problem once it has answered (it has its own timeout)."""
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # our own cancellation (Ctrl-C), not the trigger's
        return None
