"""The Locust router's exports for the bot: its address, and the interception on loopback."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from simulator.locust.router import READY_LINE, bot_export_lines, bot_url, main
from simulator.rest.intercept import bootstrap_dir
from simulator.runner.bot_env import PROXY_HOST, STANDINS_VAR


def _exported(lines: list[str]) -> dict[str, str]:
    """NAME -> value of ``export NAME=value`` lines (the value as sh reads it, unexpanded)."""
    pairs = (line.removeprefix("export ").split("=", 1) for line in lines[:-1])
    return {name: shlex.split(value)[0] for name, value in pairs}


@pytest.mark.parametrize(
    ("host", "advertise", "url"),
    [
        ("0.0.0.0", "", "http://127.0.0.1:9050"),
        ("::", "", "http://127.0.0.1:9050"),
        ("::1", "", "http://[::1]:9050"),
        ("10.0.0.5", "", "http://10.0.0.5:9050"),
        ("0.0.0.0", "http://localhost:9050/", "http://localhost:9050"),
    ],
)
def test_a_wildcard_host_is_exported_as_loopback_and_advertise_url_wins(
    host: str, advertise: str, url: str
) -> None:
    """The bot is sent to 127.0.0.1 for a router on every interface, or to --advertise-url."""
    assert bot_url(host, 9050, advertise) == url


def test_loopback_exports_route_bandwidths_paths_to_the_router(tmp_path: Path) -> None:
    """The URLs name the router's token, Voice API and control paths; the hooks point at it."""
    refused = tmp_path / "refused.jsonl"
    lines = bot_export_lines("http://127.0.0.1:9050", refused)
    assert lines[-1] == READY_LINE
    env = _exported(lines)
    assert env["BANDWIDTH_OAUTH_URL"] == "http://127.0.0.1:9050/api/v1/oauth2/token"
    assert env["BANDWIDTH_VOICE_API_URL"] == "http://127.0.0.1:9050/api/v2"
    assert env["BWSIM_CONTROL_URL"] == "http://127.0.0.1:9050/_bwsim"
    # The guide's bot needs PROXY_HOST to answer a webhook at all (a KeyError otherwise).
    assert env["PROXY_HOST"] == PROXY_HOST
    assert env[STANDINS_VAR] in ("0", "1")
    intercept = json.loads(env["BWSIM_INTERCEPT"])
    assert intercept == {"api": "http://127.0.0.1:9050", "violations_file": str(refused)}
    assert env["PYTHONPATH"].partition("$")[0] == str(bootstrap_dir())  # then the shell's own


def test_allowed_hosts_reach_the_interception(tmp_path: Path) -> None:
    """--allow-host names go into BWSIM_INTERCEPT, so the bot may reach its real providers."""
    lines = bot_export_lines("http://127.0.0.1:9050", tmp_path / "r.jsonl", ["api.deepgram.com"])
    assert json.loads(_exported(lines)["BWSIM_INTERCEPT"])["allow_hosts"] == ["api.deepgram.com"]


def test_exports_of_an_address_off_this_machine_carry_the_urls_alone(tmp_path: Path) -> None:
    """A non-loopback URL gets no PYTHONPATH/BWSIM_INTERCEPT: the hooks route to loopback only."""
    env = _exported(bot_export_lines("http://10.0.0.5:9050", tmp_path / "refused.jsonl"))
    assert env["BANDWIDTH_VOICE_API_URL"] == "http://10.0.0.5:9050/api/v2"
    assert "BWSIM_INTERCEPT" not in env
    assert "PYTHONPATH" not in env


def test_an_advertise_url_with_a_path_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--advertise-url takes the router's address alone: a path is refused with exit 2."""
    with pytest.raises(SystemExit) as exited:
        main(["--advertise-url", "http://127.0.0.1:9050/api/v2"])
    assert exited.value.code == 2
    assert "http://HOST:PORT" in capsys.readouterr().err
