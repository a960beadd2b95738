"""The default longest call: one value for the commands, scenarios and the library."""

from __future__ import annotations

from simulator.call.options import DEFAULT_MAX_CALL_S, CallOptions
from simulator.judge.scenario import CallSpec


def test_scenarios_and_call_options_share_one_limit() -> None:
    """A scenario and CallOptions that do not set max_call_s both get the one 60 s default."""
    assert CallSpec().max_call_s == CallOptions().max_call_s == DEFAULT_MAX_CALL_S == 60.0
