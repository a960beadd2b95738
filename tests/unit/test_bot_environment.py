"""The environment of a bot bwsim starts: clean, what bwsim sets, and what is passed by name."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.report.run_report import suite_json
from simulator.runner.bot_env import bot_variables
from simulator.runner.suite import SuiteResult
from simulator.runner.targets import PASS_ENV_VAR, BotCredentials, Launch


def _env(tmp_path: Path, **extra_env: str) -> dict[str, str]:
    launch = Launch(
        credentials=BotCredentials.generate("id", "secret"),
        api_base="http://127.0.0.1:9",
        violations_file=tmp_path / "violations.jsonl",
        extra_env=extra_env,
    )
    return launch.child_env(1234)


def test_only_the_allowlist_of_bwsims_environment_reaches_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATH, the locale and BWSIM_* pass; a developer's OPENAI_API_KEY and REDIS_URL do not."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-developer")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("BWSIM_STANDINS", "0")
    monkeypatch.delenv(PASS_ENV_VAR, raising=False)
    env = _env(tmp_path)
    assert "OPENAI_API_KEY" not in env
    assert "REDIS_URL" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert (env["LC_ALL"], env["BWSIM_STANDINS"]) == ("C.UTF-8", "0")
    assert env["BWSIM_CONTROL_TOKEN"]  # the control API's token, for the caller lines
    assert env["PORT"] == "1234"


def test_names_passed_and_a_scenarios_bot_env_reach_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--pass-env OPENAI_API_KEY (BWSIM_PASS_ENV) passes that one; bot_env still applies."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-developer")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv(PASS_ENV_VAR, "OPENAI_API_KEY,NOT_SET_HERE")
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    env = _env(tmp_path, BOT_SCRIPT="script.yaml")
    assert env["OPENAI_API_KEY"] == "sk-developer"
    assert "REDIS_URL" not in env
    assert "NOT_SET_HERE" not in env
    assert env["BOT_SCRIPT"] == "script.yaml"


def test_the_run_report_lists_the_names_passed_not_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """report.json's passed_env names the variables passed on (set here), never a value."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-developer")
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    monkeypatch.setenv(PASS_ENV_VAR, "OPENAI_API_KEY,NOT_SET_HERE")
    now = datetime.now(UTC)
    suite = SuiteResult(results=[], target="--app x:app", started_at=now, duration_ms=1)
    doc = suite_json(suite)
    assert doc["passed_env"] == ["OPENAI_API_KEY"]
    assert "sk-developer" not in str(doc)


def test_a_bot_started_by_hand_shares_the_control_token_set_for_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--url: BWSIM_CONTROL_TOKEN exported for bot and bwsim is the control API's token."""
    monkeypatch.setenv("BANDWIDTH_CLIENT_ID", "hand-client")
    monkeypatch.setenv("BANDWIDTH_CLIENT_SECRET", "hand-secret")
    monkeypatch.setenv("BWSIM_CONTROL_TOKEN", "chosen-by-hand")
    credentials = BotCredentials.from_environment()
    assert credentials is not None
    assert credentials.control_token == "chosen-by-hand"
    monkeypatch.delenv("BWSIM_CONTROL_TOKEN")
    again = BotCredentials.from_environment()
    assert again is not None
    assert again.control_token not in ("", "chosen-by-hand")  # a fresh one


def test_launched_bots_and_serve_exports_get_bwsims_variables_from_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variable of bot_variables reaches a launched bot; serve adds only its URLs, account."""
    monkeypatch.delenv("BWSIM_STANDINS", raising=False)
    credentials = BotCredentials.generate("id", "secret")
    base = "http://127.0.0.1:9"
    launch = Launch(credentials, base, tmp_path / "violations.jsonl")
    ours = bot_variables(credentials, base, port=1234)
    env = launch.child_env(1234)
    assert {k: env[k] for k in ours} == ours
    assert ours["BWSIM_CONTROL_URL"] == f"{base}/_bwsim"
    assert ours["BWSIM_CONTROL_TOKEN"] == credentials.control_token
    assert ours["BWSIM_STANDINS"] == "1"
    exports = bot_variables(credentials, base, port=None, account_id="99", api_urls=True)
    assert set(exports) - set(ours) == {
        "BANDWIDTH_ACCOUNT_ID",
        "BANDWIDTH_OAUTH_URL",
        "BANDWIDTH_VOICE_API_URL",
    }
    assert set(ours) - set(exports) == {"PORT"}
