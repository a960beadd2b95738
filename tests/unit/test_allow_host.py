"""``--allow-host``: what it accepts, what it lets through, and what stays faked or refused."""

from __future__ import annotations

import socket

import pytest

from simulator.cli.main import main
from simulator.rest.hosts import allowed_by, check_allow_host
from simulator.rest.intercept import Interceptor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("api.deepgram.com", "api.deepgram.com"),
        ("API.OpenAI.com.", "api.openai.com"),
        ("*.cartesia.ai", "*.cartesia.ai"),
        ("::1", "::1"),
    ],
)
def test_allow_host_accepts_host_names(value: str, expected: str) -> None:
    """A host name (or *.domain) is accepted and compared in lower case without a dot."""
    assert check_allow_host(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("https://api.deepgram.com/v1", "expected a host name"),
        ("api.deepgram.com:443", "without a port"),
        ("", "expected a host name"),
        ("voice.bandwidth.com", "always routed to the fake"),
        ("*.bandwidth.com", "always routed to the fake"),
    ],
)
def test_allow_host_refuses_what_is_not_a_host(value: str, reason: str) -> None:
    """A URL, a port, nothing, or a Bandwidth host is refused with a message saying why."""
    with pytest.raises(ValueError, match=reason):
        check_allow_host(value)


def test_bad_allow_host_on_the_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``bwsim run --allow-host URL`` exits 2 naming the option and the value."""
    with pytest.raises(SystemExit) as info:
        main(["run", "--list", "--allow-host", "https://api.deepgram.com/v1"])
    assert info.value.code == 2
    assert "--allow-host: expected a host name" in capsys.readouterr().err


def test_allowed_by_matches_names_and_subdomains_only() -> None:
    """Exact names and *.domain patterns allow; neighbours and Bandwidth's hosts do not."""
    patterns = ["api.deepgram.com", "*.cartesia.ai"]
    assert allowed_by("api.deepgram.com", patterns)
    assert allowed_by("eu.api.cartesia.ai", patterns)
    assert not allowed_by("cartesia.ai.evil.example", patterns)
    assert not allowed_by("deepgram.com", patterns)
    assert not allowed_by("api.bandwidth.com", [*patterns, "api.bandwidth.com"])


def test_addresses_of_an_allowed_name_are_allowed() -> None:
    """An allowed name's resolved addresses pass; an address no allowed name gave stays refused."""
    interceptor = Interceptor("http://127.0.0.1:9", allow_hosts=["api.deepgram.com"])
    info = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", 443))
    assert interceptor.verdict("203.0.113.7") == "block"
    interceptor.remember("example.org", [info])  # not allowed: its addresses are not either
    assert interceptor.verdict("203.0.113.7") == "block"
    interceptor.remember("api.deepgram.com", [info])
    assert interceptor.verdict("203.0.113.7") == "pass"
    assert interceptor.verdict("api.bandwidth.com") == "route"
    assert interceptor.verdict("api.openai.com") == "block"


def test_resolve_map_only_points_at_loopback() -> None:
    """The test-only name map refuses a non-loopback target: it cannot open a way out."""
    with pytest.raises(ValueError, match="loopback"):
        Interceptor("http://127.0.0.1:9", resolve={"provider.test": "10.0.0.1"})
