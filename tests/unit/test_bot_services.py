"""The reference bot's choice, per service, between the guide's providers and the stand-ins."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest

from bot.config import Settings
from bot.services import ProviderMissingError, make_services
from simulator.standins import (
    DEFAULT_SCRIPT,
    EspeakTTSService,
    ScriptedLLMService,
    ScriptedSTTService,
    load_script,
)

SCRIPT = load_script(DEFAULT_SCRIPT)
SETTINGS = Settings(
    proxy_host="bot.example",
    client_id="",
    client_secret="",
    webhook_username="u",
    webhook_password="p",
    human_agent_number="+19195550123",
)


def test_no_keys_means_the_offline_stand_ins() -> None:
    """Without API keys every service is the offline stand-in."""
    services = make_services(SETTINGS, SCRIPT, ())
    assert isinstance(services.stt, ScriptedSTTService)
    assert isinstance(services.llm, ScriptedLLMService)
    assert isinstance(services.tts, EspeakTTSService)


def test_a_key_for_an_installed_provider_selects_it() -> None:
    """OPENAI_API_KEY set: the guide's OpenAI LLM, with the script's system instruction."""
    llm_module = pytest.importorskip("pipecat.services.openai.llm")
    services = make_services(replace(SETTINGS, openai_api_key="sk-test"), SCRIPT, ())
    assert isinstance(services.llm, llm_module.OpenAILLMService)
    assert isinstance(services.stt, ScriptedSTTService)


def test_a_missing_provider_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key set for a provider whose package is missing says which extra to install."""
    import bot.services

    def no_module(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    # bot.services does not re-export importlib: reach it through an untyped view.
    monkeypatch.setattr(cast(Any, bot.services).importlib, "import_module", no_module)
    with pytest.raises(ProviderMissingError, match=r"pipecat-ai\[deepgram\]==1\.14\.0"):
        make_services(replace(SETTINGS, deepgram_api_key="dg-test"), SCRIPT, ())
