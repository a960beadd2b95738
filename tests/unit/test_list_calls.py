"""List Calls honours the spec's query: filters, pageSize and its bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator.rest.list_calls import ListCallsInvalid, list_calls
from simulator.rest.registry import Registry

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def _registry() -> tuple[Registry, str]:
    clock = iter(T0 + timedelta(minutes=i) for i in range(10))
    reg = Registry(clock=lambda: next(clock))
    account = reg.create_account().account_id
    reg.create_call(account, from_="+15550100001", to="+15550100009")
    ended = reg.create_call(account, from_="+15550100002", to="+15550100009")
    reg.end(ended.call_id, "busy")
    reg.create_call(reg.create_account().account_id, from_="+15550100001", to="+15550100009")
    return reg, account


def test_filters_and_page_size_select_the_calls() -> None:
    """from, disconnectCause, the start times and pageSize each narrow the account's list."""
    reg, account = _registry()
    calls = reg.calls.values()
    assert len(list_calls(calls, account, "")) == 2
    assert [c["from"] for c in list_calls(calls, account, "from=%2B15550100001")] == [
        "+15550100001"
    ]
    assert [c["disconnectCause"] for c in list_calls(calls, account, "disconnectCause=busy")] == [
        "busy"
    ]
    assert len(list_calls(calls, account, "minStartTime=2026-09-01T12:01:00Z")) == 1
    assert len(list_calls(calls, account, "maxStartTime=2026-09-01T12:00:00Z")) == 1
    assert [c["from"] for c in list_calls(calls, account, "pageSize=1")] == ["+15550100001"]


@pytest.mark.parametrize(
    "query", ["pageSize=0", "pageSize=10001", "pageSize=ten", "minStartTime=x"]
)
def test_a_query_the_spec_refuses_is_refused(query: str) -> None:
    """A pageSize outside 1-10000 or a time that is not ISO 8601 raises, naming the parameter."""
    reg, account = _registry()
    with pytest.raises(ListCallsInvalid, match=query.split("=", maxsplit=1)[0]):
        list_calls(reg.calls.values(), account, query)
