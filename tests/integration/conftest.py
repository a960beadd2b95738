"""A call placed by a test fails the test when it ran out of time, rather than going on.

``Harness.place_call`` records a caller script's timed-out wait (``caller script: …``) and
a call cut at ``max_call_s`` in ``result.errors`` and returns normally, which is right
for a report but lets a test pass on a call that never got where its script waited for.
A module that places calls itself opts in with
``pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")``: then the first such
error fails the test, with the error. (Not autouse: the suite, load and audit runners
place calls too, and report these errors as their own verdicts.)
"""

from __future__ import annotations

from typing import Any

import pytest

from simulator.call.result import CallResult
from simulator.runner.harness import Harness

TIMED_OUT = ("caller script: ", "the call was still up after max_call_s")


@pytest.fixture
def calls_that_time_out_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test with the error when one of its calls timed out in a wait or overall."""
    place_call = Harness.place_call

    async def checked(self: Harness, *args: Any, **kwargs: Any) -> CallResult:
        result = await place_call(self, *args, **kwargs)
        timed_out = [e for e in result.errors if e.startswith(TIMED_OUT)]
        if timed_out:
            pytest.fail(f"call {result.call_id} timed out: {timed_out[0]}")
        return result

    monkeypatch.setattr(Harness, "place_call", checked)
