"""``--allow-host`` and ``allow_hosts``: what is accepted, let through, faked or refused."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import numpy as np
import pytest

from simulator.cli.main import main
from simulator.errors import ScenarioError
from simulator.judge.scenario import Scenario, parse_scenarios
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


def _scenarios(text: str) -> list[Scenario]:
    silence = np.zeros(160, dtype=np.int16)
    return parse_scenarios(
        textwrap.dedent(text), Path("suite.yaml"), load_audio=lambda path, line: silence
    )


SUITE_WITH_HOSTS = """\
allow_hosts: [api.deepgram.com]
scenarios:
  - name: greets
    expect: [stream_accepted]
  - name: speaks
    allow_hosts: [api.deepgram.com, "*.cartesia.ai"]
    expect: [stream_accepted]
"""


def test_scenario_file_defaults_carry_allow_hosts() -> None:
    """``allow_hosts`` at the top of a file applies to each scenario unless it names its own."""
    greets, speaks = _scenarios(SUITE_WITH_HOSTS)
    assert greets.allow_hosts == ("api.deepgram.com",)
    assert speaks.allow_hosts == ("*.cartesia.ai", "api.deepgram.com")


def test_scenario_allow_hosts_refuses_a_url_naming_file_line_and_key() -> None:
    """A URL under ``allow_hosts`` is a ScenarioError naming the file, the line and the key."""
    bad = SUITE_WITH_HOSTS.replace("[api.deepgram.com]\n", "[https://api.deepgram.com/v1]\n", 1)
    with pytest.raises(ScenarioError, match="expected a host name") as info:
        _scenarios(bad)
    assert (info.value.path.name, info.value.line, info.value.key) == (
        "suite.yaml",
        1,
        "allow_hosts",
    )


def test_allow_host_with_a_url_bot_says_it_does_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--allow-host`` with ``--url`` notes that only bots bwsim starts are affected."""
    argv = ["run", "--list", "--url", "http://127.0.0.1:9", "--allow-host", "api.deepgram.com"]
    assert main(argv) == 0
    assert "--allow-host applies to bots bwsim starts" in capsys.readouterr().err
