"""Filling ``${…}`` templates, the one way the runner and the judge both use."""

from __future__ import annotations

from simulator.judge.templates import fill_templates


def test_templates_are_filled_in_nested_strings() -> None:
    """Strings inside dicts and lists are filled; other values pass through unchanged."""
    body = {"to": "${HUMAN_AGENT_NUMBER}", "ids": ["${victim.callId}", 3], "flag": True}
    filled = fill_templates(body, {"HUMAN_AGENT_NUMBER": "+15550001111", "victim.callId": "c-1"})
    assert filled == {"to": "+15550001111", "ids": ["c-1", 3], "flag": True}
    assert body["to"] == "${HUMAN_AGENT_NUMBER}"  # the scenario's own value is not changed


def test_a_name_without_a_value_is_left_as_written() -> None:
    """A template the runner has no value for stays in the text."""
    assert fill_templates("tel:${victim.callId}", {}) == "tel:${victim.callId}"


def test_a_filled_value_is_not_filled_again() -> None:
    """A value that itself looks like a template is inserted literally."""
    assert fill_templates("${a.b}", {"a.b": "${c}", "c": "x"}) == "${c}"
