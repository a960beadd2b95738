"""The B-legs of one ``<Transfer>``: bwsim dials the targets and plays the people there.

:class:`CallTransfer` is the asyncio shell the call session starts when its BXML reaches a
``<Transfer>`` (docs/bandwidth.md §2.7, §5.5). Each target becomes a call in the registry
(``direction`` outbound, ``parentCallId`` the A-leg) and rings for the
:class:`~simulator.protocol.transfer.TransferParty`'s ``ring_ms``. Then either every
target is busy, does not answer or rejects, or the first answers (the others are
cancelled), gets ``transferAnswer`` and its BXML (a whisper) runs on that leg, and the
two parties are bridged for ``talk_ms``, after which the target hangs up. Every B-leg
gets ``transferDisconnect`` when it ends. The A-leg hanging up, or new BXML taking the
caller back (:meth:`CallTransfer.end`), ends the transfer early. What becomes of the
A-leg afterwards (``transferComplete``, the verbs after ``<Transfer>``) is the BXML
runner's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from simulator.call.bot_webhooks import BotWebhooks
from simulator.call.recorder import CallRecorder
from simulator.protocol import bxml_runner as bx
from simulator.protocol.transfer import (
    TransferOutcome,
    TransferParty,
    transfer_error_message,
    transfer_outcome,
    whisper,
)
from simulator.protocol.urls import http_url
from simulator.protocol.verbs import Transfer, TransferLeg
from simulator.protocol.webhook_auth import WebhookAuth
from simulator.protocol.webhook_bodies import (
    CallInfo,
    transfer_answer_body,
    transfer_disconnect_body,
)
from simulator.rest.registry import Call, CallEvent, Ended, Registry

__all__ = ["DROPPED_DETAIL", "CallTransfer"]

DROPPED_DETAIL = (
    "the bot hung the call up through the Voice API {when}: on Bandwidth (the API "
    "reference's account, where the call stays the application's during a transfer) that "
    "drops the caller from the person they were being handed to. Once <Transfer> has run, "
    "leave the call alone: Bandwidth ends it when the transfer is over, or sends "
    "transferComplete if the transfer fails."
)
"""The ``transferred-caller-dropped`` violation's detail (``{when}``: ringing or bridged)."""


@dataclass
class _Leg:
    """One dialled target: its webhooks, its registry call and its webhook facts."""

    leg: TransferLeg
    call: Call
    info: CallInfo


class CallTransfer:
    """Dial the targets of ``step`` for the A-leg ``a_leg`` and play what they do."""

    def __init__(
        self,
        *,
        registry: Registry,
        a_leg: CallInfo,
        step: Transfer,
        party: TransferParty,
        webhooks: BotWebhooks,
        recorder: CallRecorder,
        a_leg_ended: asyncio.Event,
        hung_up_by_bot: Callable[[], bool],
        bot_base_url: str,
    ) -> None:
        self.registry = registry
        self.a_leg = a_leg
        self.step = step
        self.party = party
        self.webhooks = webhooks
        self.recorder = recorder
        self._a_ended = a_leg_ended
        self._hung_up_by_bot = hung_up_by_bot
        self._bot = bot_base_url
        self._taken_back = asyncio.Event()
        self._leg_gone = asyncio.Event()
        """A B-leg was ended from outside (a hang-up of it through the Voice API)."""
        self._leg_ids: set[str] = set()
        self.bridged = False
        """Whether a target answered and was bridged with the caller."""
        self.outcome: TransferOutcome | None = None
        """How the transfer ended, once it has."""
        self.dropped: str | None = None
        """When the bot hung the caller up during the transfer (``while … rang``), if it did."""

    def end(self) -> None:
        """New BXML takes the caller back: the bridge (or the ringing) ends now."""
        self._taken_back.set()

    async def _wait(self, seconds: float) -> bool:
        """Let ``seconds`` pass; False when the A-leg ended or was taken back first."""
        events = (self._a_ended, self._taken_back, self._leg_gone)
        stops = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            done, _ = await asyncio.wait(
                stops, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in stops:
                task.cancel()
        return not done

    async def run(self, client: httpx.AsyncClient, first_leg_id: str) -> TransferOutcome:
        """Run the transfer to its end; the outcome names the cause the B-leg ended with."""
        loop = asyncio.get_running_loop()

        def on_registry(event: CallEvent) -> None:  # the Voice API may run in another thread
            if isinstance(event, Ended) and event.call.call_id in self._leg_ids:
                loop.call_soon_threadsafe(self._leg_gone.set)

        unsubscribe = self.registry.subscribe(on_registry)
        try:
            self.outcome = await self._run(client, first_leg_id)
        finally:
            unsubscribe()
        return self.outcome

    async def _run(self, client: httpx.AsyncClient, first_leg_id: str) -> TransferOutcome:
        legs = self._dial(first_leg_id)
        self._leg_ids = {leg.call.call_id for leg in legs}
        ring_s = self.party.ring_s(self.step)
        self.recorder.event(
            "transfer-ringing",
            targets=[leg.leg.to for leg in legs],
            b_legs=[leg.call.call_id for leg in legs],
            ring_ms=round(ring_s * 1000),
            then=self.party.answer,
        )
        if not await self._wait(ring_s):
            if self._a_ended.is_set() and self._hung_up_by_bot():
                self.dropped = f"while {legs[0].leg.to} was ringing for the caller"
            await self._end_legs(client, legs, "cancel")
            cancelled = transfer_error_message("cancel")
            return TransferOutcome("cancel", False, legs[0].leg.to, cancelled)
        failed = transfer_outcome(self.party, self.step)
        if failed is not None:
            await self._end_legs(client, legs, failed.cause)
            return failed
        first, others = legs[0], legs[1:]
        await self._end_legs(client, others, "cancel")
        return await self._answered(client, first)

    def _dial(self, first_leg_id: str) -> list[_Leg]:
        a = self.a_leg
        legs = self.step.legs or tuple(TransferLeg(to) for to in self.step.targets)
        out: list[_Leg] = []
        for i, leg in enumerate(legs):
            call = self.registry.create_call(
                a.account_id,
                from_=self.step.caller_id or a.from_,
                to=leg.to,
                direction="outbound",
                call_id=first_leg_id if i == 0 else None,
                parent_call_id=a.call_id,
            )
            info = a.transfer_leg(
                leg.to,
                start_time=call.start_time,
                caller_id=self.step.caller_id,
                call_id=call.call_id,
                tag=leg.tag,
            )
            out.append(_Leg(leg, call, info))
        return out

    async def _answered(self, client: httpx.AsyncClient, leg: _Leg) -> TransferOutcome:
        """The first target answered: whisper, bridge, talk, hang up."""
        self.registry.answer(leg.call.call_id)
        leg.info = leg.info.answered(leg.call.answer_time or datetime.now(UTC))
        self.recorder.event("transfer-answered", to=leg.leg.to, b_leg=leg.call.call_id)
        if leg.leg.answer_url is not None:
            body = transfer_answer_body(leg.info, datetime.now(UTC))
            answer = await self.webhooks.fetch_bxml(
                client,
                leg.leg.answer_url,
                body,
                leg.leg.username,
                leg.leg.password,
                method=leg.leg.answer_method,
                fallback=leg.leg.answer_fallback,
            )
            if isinstance(answer, bx.WebhookFailed):
                await self._end_legs(client, [leg], answer.cause, answer.message)
                return TransferOutcome(answer.cause, False, leg.leg.to, answer.message)
            plan = whisper(answer.steps)
            for verb in plan.skipped:
                self.recorder.event("note", detail=f"<{verb}> is not run on a transfer B-leg")
            if not await self._wait(plan.seconds) or plan.hangs_up:
                await self._end_legs(client, [leg], "hangup")
                return TransferOutcome("hangup", False, leg.leg.to)
        self.bridged = True
        self.recorder.event("transfer-bridged", to=leg.leg.to, b_leg=leg.call.call_id)
        talked = await self._wait(self.party.talk_ms / 1000)
        if not talked and self._a_ended.is_set() and self._hung_up_by_bot():
            self.dropped = f"while the caller was bridged to {leg.leg.to}"
        cause = leg.call.disconnect_cause or "hangup"  # the leg may have been hung up already
        await self._end_legs(client, [leg], cause)
        return TransferOutcome(cause, True, leg.leg.to)

    async def _end_legs(
        self,
        client: httpx.AsyncClient,
        legs: list[_Leg],
        cause: str,
        message: str | None = None,
    ) -> None:
        """End each leg with ``cause`` and send its ``transferDisconnect`` (async, §2.7)."""
        message = message or transfer_error_message(cause)
        for leg in legs:
            if leg.call.active:
                self.registry.end(leg.call.call_id, cause, message)
            self.recorder.event(
                "transfer-leg-ended", to=leg.leg.to, b_leg=leg.call.call_id, cause=cause
            )
        await asyncio.gather(*(self._disconnect(client, leg, cause, message) for leg in legs))

    async def _disconnect(
        self, client: httpx.AsyncClient, leg: _Leg, cause: str, message: str | None
    ) -> None:
        url = leg.leg.disconnect_url
        if url is None:
            return
        end = leg.call.end_time or datetime.now(UTC)
        body = transfer_disconnect_body(leg.info, cause, end, message)
        creds = leg.leg.username, leg.leg.password
        auth = WebhookAuth("challenge", *(creds if None not in creds else ()))
        method = leg.leg.disconnect_method
        await self.webhooks.send_async(client, http_url(url, self._bot), body, auth, method)
