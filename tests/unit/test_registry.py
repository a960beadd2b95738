"""The call registry: ids shaped like Bandwidth's and a lifecycle that cannot go back."""

from __future__ import annotations

import contextlib
import re
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from simulator.rest.registry import (
    CallPhase,
    InvalidTransition,
    Registry,
    new_account_id,
    new_call_id,
    new_stream_id,
)

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@given(st.integers(min_value=0, max_value=20))
def test_ids_have_bandwidth_shapes(seed: int) -> None:
    """Call, stream and account ids match the shapes in Bandwidth's examples."""
    call_id = new_call_id()
    assert re.fullmatch(rf"c-[0-9a-f]{{8}}-{UUID}", call_id)
    assert len(call_id) == 47
    assert re.fullmatch(rf"s-[0-9a-f]{{8}}-{UUID}", new_stream_id())
    assert re.fullmatch(r"\d{7}", new_account_id())


def test_ids_use_only_unreserved_characters() -> None:
    """Ids contain only RFC 3986 unreserved characters, as pipecat-bandwidth requires."""
    for _ in range(200):
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", new_call_id())


def test_hangup_of_answered_call_ends_it_with_cause_hangup() -> None:
    """Completing an answered call through the API ends it with cause ``hangup``."""
    reg = Registry()
    acc = reg.create_account()
    call = reg.create_call(acc.account_id)
    reg.answer(call.call_id)
    seen: list[str] = []
    reg.subscribe(lambda e: seen.append(e.kind))
    reg.request_hangup(call.call_id, source="test")
    assert call.phase is CallPhase.DISCONNECTED
    assert call.disconnect_cause == "hangup"
    assert seen == ["hangup-requested", "ended"]


def test_hangup_of_unanswered_call_rejects_it() -> None:
    """Completing an unanswered inbound call rejects it (docs/bandwidth.md §4.4)."""
    reg = Registry()
    acc = reg.create_account()
    call = reg.create_call(acc.account_id)
    reg.request_hangup(call.call_id, source="test")
    assert call.disconnect_cause == "rejected"


def test_transferred_call_cannot_be_hung_up() -> None:
    """After a transfer the bot no longer controls the call: hang-up is an invalid move."""
    reg = Registry()
    acc = reg.create_account()
    call = reg.create_call(acc.account_id)
    reg.answer(call.call_id)
    reg.transfer(call.call_id, ("+19195550123",))
    assert call.transfer is not None and call.transfer.targets == ("+19195550123",)
    with pytest.raises(InvalidTransition):
        reg.request_hangup(call.call_id, source="test")


def test_find_hides_calls_of_other_accounts() -> None:
    """A call is invisible through another account (the Voice API then answers 404)."""
    reg = Registry()
    a, b = reg.create_account(), reg.create_account()
    call = reg.create_call(a.account_id)
    assert reg.find(a.account_id, call.call_id) is call
    assert reg.find(b.account_id, call.call_id) is None


def test_client_credentials_map_to_their_account() -> None:
    """Each OAuth client credential belongs to exactly one account."""
    reg = Registry()
    a, b = reg.create_account(), reg.create_account()
    assert reg.account_for_client(a.client_id, a.client_secret) is a
    assert reg.account_for_client(a.client_id, b.client_secret) is None


def test_stream_end_returns_call_to_answered() -> None:
    """When its last stream closes a call stays up (a <Pause> holds it): phase answered."""
    reg = Registry()
    acc = reg.create_account()
    call = reg.create_call(acc.account_id)
    reg.answer(call.call_id)
    reg.stream_started(call.call_id, "s-1")
    assert call.phase is CallPhase.STREAMING
    reg.stream_ended(call.call_id, "s-1")
    # cast: mypy keeps call.phase narrowed to STREAMING across stream_ended().
    assert cast(CallPhase, call.phase) is CallPhase.ANSWERED


class CallLifecycle(RuleBasedStateMachine):
    """Random sequences of registry operations never revive an ended call."""

    def __init__(self) -> None:
        super().__init__()
        self.reg = Registry()
        self.acc = self.reg.create_account()
        self.call = self.reg.create_call(self.acc.account_id)
        self.final_seen = False

    def _try(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(InvalidTransition):
            fn(*args)

    @rule()
    def answer(self) -> None:
        self._try(self.reg.answer, self.call.call_id)

    @rule(n=st.integers(0, 2))
    def stream(self, n: int) -> None:
        self._try(self.reg.stream_started, self.call.call_id, f"s-{n}")

    @rule(n=st.integers(0, 2))
    def stream_end(self, n: int) -> None:
        self._try(self.reg.stream_ended, self.call.call_id, f"s-{n}")

    @rule()
    def hangup(self) -> None:
        self._try(lambda c: self.reg.request_hangup(c, source="test"), self.call.call_id)

    @rule()
    def transfer(self) -> None:
        self._try(self.reg.transfer, self.call.call_id, ("+1",))

    @precondition(lambda self: self.call.phase is not CallPhase.DISCONNECTED)
    @rule(cause=st.sampled_from(["hangup", "timeout", "callback-error"]))
    def end(self, cause: str) -> None:
        self.reg.end(self.call.call_id, cause)

    @invariant()
    def ended_calls_stay_ended(self) -> None:
        if self.final_seen:
            assert not self.call.active
        if not self.call.active:
            self.final_seen = True


TestCallLifecycle = CallLifecycle.TestCase
