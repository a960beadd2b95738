"""The conversation script (bot/script.yaml) and the settings the bot reads from its environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import DEFAULT_SCRIPT, Settings
from bot.script import ScriptError, load_script


def write(tmp_path: Path, **changes: object) -> Path:
    """The shipped script with ``changes`` (a value of None removes the key)."""
    data = yaml.safe_load(DEFAULT_SCRIPT.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_script_loads() -> None:
    """bot/script.yaml is valid and has the lines the offline conversation needs."""
    script = load_script(DEFAULT_SCRIPT)
    assert script.greeting
    assert script.replies
    assert script.caller_lines


@pytest.mark.parametrize(
    ("text", "person", "goodbye"),
    [
        ("I would like to speak to a person please.", True, False),
        ("Can I talk to a HUMAN?", True, False),
        ("Get me an operator", True, False),
        ("Thank you, goodbye.", False, True),
        ("Okay bye!", False, True),
        ("What are your opening hours?", False, False),
        ("personal details", False, False),
    ],
)
def test_patterns_pick_the_tool(text: str, person: bool, goodbye: bool) -> None:
    """The shipped patterns match requests for a person and goodbyes, and little else."""
    script = load_script(DEFAULT_SCRIPT)
    assert (script.wants_person(text), script.says_goodbye(text)) == (person, goodbye)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"greeting": None}, "'greeting' must be a non-empty string"),
        ({"greeting": ""}, "'greeting' must be a non-empty string"),
        ({"replies": "one line"}, "'replies' must be a list"),
        ({"caller_lines": [1, 2]}, "'caller_lines' must be a list"),
        ({"patterns": {"transfer": "x"}}, "must map exactly 'transfer' and 'goodbye'"),
        ({"patterns": {"transfer": "(", "goodbye": "bye"}}, "patterns.transfer is not a valid"),
        ({"greting": "Hi"}, "unknown keys ['greting']"),
        ({"filler": ""}, "'filler' must be a non-empty string or null"),
    ],
)
def test_a_bad_script_is_refused_naming_the_key(
    tmp_path: Path, changes: dict[str, object], problem: str
) -> None:
    """Each kind of mistake in the script is an error that says which key is wrong."""
    with pytest.raises(ScriptError, match=problem.replace("(", r"\(").replace("[", r"\[")):
        load_script(write(tmp_path, **changes))


def test_a_missing_script_file_says_to_set_bot_script(tmp_path: Path) -> None:
    """A script path that does not exist names the path and the BOT_SCRIPT setting."""
    with pytest.raises(ScriptError, match="BOT_SCRIPT"):
        load_script(tmp_path / "nope.yaml")


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
