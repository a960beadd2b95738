"""Update Call's body is checked as the spec's updateCall describes it (docs/bandwidth.md §4.4)."""

from __future__ import annotations

import pytest

from simulator.protocol.update_call import UpdateCallInvalid, parse_update_call


def test_a_null_state_is_the_default_active() -> None:
    """``state: null`` redirects, as the spec's default says, rather than being refused."""
    assert parse_update_call({"state": None, "redirectUrl": "https://bot.example/r"}) == "active"


def test_completed_takes_null_fields_as_absent() -> None:
    """A hang-up with ``tag: null`` is a hang-up: a null field is no field."""
    assert parse_update_call({"state": "completed", "tag": None}) == "completed"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"state": "completed", "redirectMethod": "GET"}, "redirectMethod not allowed"),
        ({"redirectUrl": "https://b.example/r", "redirectMethod": "PUT"}, "GET or POST"),
        ({"redirectUrl": "https://b.example/r", "tag": 5}, "tag must be a string"),
        ({"redirectUrl": "https://b.example/r", "username": "u" * 1025}, "longer than 1024"),
        ({"redirectUrl": "next"}, "absolute http(s) URL"),
        ({"state": "active"}, "redirectUrl is required"),
        (["state"], "JSON object"),
    ],
)
def test_a_body_the_spec_refuses_names_its_field(body: object, reason: str) -> None:
    """Each body updateCall's schema or descriptions refuse raises, naming what is wrong."""
    with pytest.raises(UpdateCallInvalid, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_update_call(body)
