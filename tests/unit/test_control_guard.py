"""Who may use /_bwsim/*: the refusals, each for its own reason, and what passes."""

from __future__ import annotations

import pytest

from simulator.rest.control_guard import check_control_request

TOKEN = "the-run-token-123"
GOOD = {
    "host": "127.0.0.1:8080",
    "authorization": f"Bearer {TOKEN}",
    "content-type": "application/json; charset=utf-8",
}


def _check(method: str = "POST", bound: str | None = "127.0.0.1", **change: str) -> int | None:
    headers = {k: v for k, v in {**GOOD, **change}.items() if v != "-"}
    refusal = check_control_request(method, headers, token=TOKEN, bound_host=bound)
    return None if refusal is None else refusal.status


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8080", "localhost:1", "[::1]:9", "bot.bwsim.localhost", "10.0.0.5:8"]
)
def test_loopback_names_and_the_bound_address_pass(host: str) -> None:
    """A loopback Host, a .localhost name or the address the fake is bound to passes."""
    assert _check(host=host, bound="10.0.0.5") is None


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"host": "attacker.example"}, 403),
        ({"host": "-"}, 403),
        ({"origin": "http://attacker.example"}, 403),
        ({"authorization": "-"}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": f"Basic {TOKEN}"}, 401),
        ({"authorization": "Bearer tökén"}, 401),
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"content-type": "-"}, 415),
    ],
)
def test_each_wrong_header_is_refused_with_its_status(change: dict[str, str], status: int) -> None:
    """Foreign Host/Origin 403, a missing or wrong token 401, a POST that is not JSON 415."""
    assert _check(**change) == status


def test_a_get_needs_no_content_type() -> None:
    """Only a POST must say JSON: a GET of the journal with the token passes."""
    assert _check("GET", **{"content-type": "-"}) is None
    assert _check("POST") is None
