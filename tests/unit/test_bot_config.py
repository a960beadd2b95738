"""The reference bot's settings, read from its environment, and where its script comes from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.services import load_bot_script
from simulator.standins import DEFAULT_SCRIPT, ScriptError


def test_the_bot_uses_the_script_bwsim_ships() -> None:
    """Without BOT_SCRIPT the bot's script is the stand-ins' default, which loads."""
    assert Settings.from_env({}).script_path == DEFAULT_SCRIPT
    assert load_bot_script(Settings.from_env({})).greeting


def test_a_missing_script_file_says_to_set_bot_script(tmp_path: Path) -> None:
    """A script path that does not exist names the path and the BOT_SCRIPT setting."""
    settings = replace(Settings.from_env({}), script_path=tmp_path / "nope.yaml")
    with pytest.raises(ScriptError, match="BOT_SCRIPT"):
        load_bot_script(settings)


def test_settings_come_from_the_guides_variable_names() -> None:
    """Settings.from_env reads env.example's names plus the bot's own."""
    env = {
        "PROXY_HOST": "abc.ngrok.app",
        "BANDWIDTH_CLIENT_ID": "id",
        "BANDWIDTH_CLIENT_SECRET": "secret",
        "BANDWIDTH_WEBHOOK_USERNAME": "u",
        "BANDWIDTH_WEBHOOK_PASSWORD": "p",
        "HUMAN_AGENT_NUMBER": "+19195554321",
        "BANDWIDTH_VOICE_API_URL": "http://127.0.0.1:1/api/v2/",
        "BOT_OUTBOUND_ENCODING": "pcm24k",
        "BOT_KEEPALIVE": "stopstream",
        "BOT_TOKEN_TTL_S": "0.5",
        "BOT_IDLE_TIMEOUT_S": "12",
        "BWSIM_CONTROL_URL": "http://127.0.0.1:1/_bwsim/",
    }
    s = Settings.from_env(env)
    assert (s.proxy_host, s.client_id, s.human_agent_number) == (
        "abc.ngrok.app",
        "id",
        "+19195554321",
    )
    assert s.voice_api_url == "http://127.0.0.1:1/api/v2"
    assert s.oauth_url == "https://api.bandwidth.com/api/v1/oauth2/token"
    assert (s.outbound_encoding, s.out_sample_rate, s.keepalive) == ("pcm24k", 24000, "stopstream")
    assert s.token_ttl_s == 0.5
    assert s.idle_timeout_s == 12.0
    assert s.control_url == "http://127.0.0.1:1/_bwsim"
    assert s.redis_url is None
    assert s.script_path == DEFAULT_SCRIPT
    assert "secret" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_OUTBOUND_ENCODING", "opus"),
        ("BOT_KEEPALIVE", "hold"),
        ("BOT_TOKEN_TTL_S", "-1"),
        ("BOT_IDLE_TIMEOUT_S", "0"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(name: str, value: str) -> None:
    """A bad value stops the bot at startup with the variable's name, not at the first call."""
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})
