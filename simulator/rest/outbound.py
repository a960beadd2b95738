"""Where the Voice API hands an outbound call to whoever plays its callee.

A bot creates a call with ``POST …/calls`` on the REST side; the call side (an
:class:`~simulator.call.outbound.OutboundSession`) plays the callee. Before it asks the
bot to dial, the call side says it expects a call (:meth:`OutboundDesk.expect`); the
Voice API then offers each created call (:meth:`OutboundDesk.offer`) to the first
taker. A call nobody expected is refused by the desk, and the Voice API reports it.
Takers may live on another thread than the Voice API: the desk holds a lock, and a
taker must hand the call over to its own loop itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.protocol.create_call import (
    CreateCall,
    CreateCallInvalid,
    create_call_response,
    parse_create_call,
)
from simulator.rest.journal import Journal
from simulator.rest.registry import Call, Registry

__all__ = ["OutboundDesk", "PlacedCall", "create_outbound_call"]


@dataclass(frozen=True)
class PlacedCall:
    """An outbound call the bot created, and the request that created it."""

    call: Call
    request: CreateCall


Taker = Callable[[PlacedCall], None]


class OutboundDesk:
    """Pairs each call a bot creates with the one waiting to play its callee."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._takers: list[Taker] = []

    def expect(self, taker: Taker) -> Callable[[], None]:
        """Give the next created call to ``taker``; returns a function that withdraws it."""
        with self._lock:
            self._takers.append(taker)

        def withdraw() -> None:
            with self._lock:
                if taker in self._takers:
                    self._takers.remove(taker)

        return withdraw

    @property
    def expecting(self) -> int:
        """How many calls are expected now."""
        with self._lock:
            return len(self._takers)

    def offer(self, placed: PlacedCall) -> bool:
        """Hand ``placed`` to the first taker; False when no call was expected."""
        with self._lock:
            taker = self._takers.pop(0) if self._takers else None
        if taker is None:
            return False
        taker(placed)
        return True

    def clear(self) -> None:
        """Forget every taker (a per-test reset)."""
        with self._lock:
            self._takers.clear()


def create_outbound_call(
    registry: Registry, journal: Journal, desk: OutboundDesk, account_id: str, body: Any
) -> dict[str, Any] | str:
    """Create Call's work once the request is authenticated (docs/bandwidth.md §4.7).

    Returns the 201 body (``createCallResponse``), or the 400 description naming the bad
    field. The call is registered as an outbound call in ``initiated`` and offered to
    ``desk`` (the fake's ``outbound``); a call nobody expected is a violation
    (``unexpected-outbound-call``) and ends at once with cause ``timeout``: nobody answers.
    """
    try:
        wanted = parse_create_call(body)
    except CreateCallInvalid as err:
        return f"Invalid createCall request: {err}"
    account = registry.accounts[account_id]
    if wanted.application_id != account.application_id:
        return (
            f"Invalid createCall request: applicationId: {wanted.application_id!r} is not "
            f"an application of account {account_id} (use $BANDWIDTH_APPLICATION_ID)"
        )
    call = registry.create_call(account_id, from_=wanted.from_, to=wanted.to, direction="outbound")
    call.tag = wanted.tag
    payload = create_call_response(
        wanted, account_id=account_id, call_id=call.call_id, enqueued_time=call.start_time
    )
    if not desk.offer(PlacedCall(call, wanted)):
        journal.violation(
            "unexpected-outbound-call",
            f"the bot created an outbound call to {wanted.to} but none was expected: "
            "nobody answers it (a scenario expects one with call.direction: outbound)",
            method="POST",
            url=f"/api/v2/accounts/{account_id}/calls",
            call_id=call.call_id,
        )
        registry.end(
            call.call_id, "timeout", "bwsim: no outbound call was expected, nobody answered"
        )
    return payload
