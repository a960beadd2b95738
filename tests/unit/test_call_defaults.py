"""The default longest call: one for the commands and scenarios, one for the library."""

from __future__ import annotations

from simulator.call.defaults import DEFAULT_MAX_CALL_S, LIBRARY_MAX_CALL_S
from simulator.call.session import CallOptions
from simulator.judge.scenario import CallSpec


def test_scenarios_default_to_the_command_limit() -> None:
    """A scenario that does not set call.max_call_s gets the commands' 60 s."""
    assert CallSpec().max_call_s == DEFAULT_MAX_CALL_S == 60.0


def test_call_options_default_to_the_library_limit() -> None:
    """CallOptions without max_call_s gets the library's 120 s."""
    assert CallOptions().max_call_s == LIBRARY_MAX_CALL_S == 120.0
