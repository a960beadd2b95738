"""Which speech and language services a call gets: the guide's providers, or stand-ins.

Each of the three is chosen on its own: the guide's provider when its key is set
(``DEEPGRAM_API_KEY``, ``OPENAI_API_KEY``, ``CARTESIA_API_KEY``), else bwsim's offline
stand-in from ``simulator.standins`` (scripted STT, scripted LLM, espeak-ng TTS). The
choice is logged. Providers are
imported only when chosen; they are not dependencies of this project, and a key set
without its package installed is an error that names the extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from bot.config import Settings
from simulator.standins import (
    EspeakTTSService,
    Script,
    ScriptedLLMService,
    ScriptedSTTService,
    load_script,
)

CARTESIA_VOICE = "71a7ad14-091c-4e8e-a314-022ece01c121"  # the guide's British Reading Lady


class ProviderMissingError(RuntimeError):
    """An API key is set for a provider whose Pipecat extra is not installed."""


def _provider(module: str, name: str, key_var: str, extra: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        msg = (
            f"{key_var} is set, so the bot uses {name}, but it cannot be imported ({exc}). "
            f"Install it with `pip install 'pipecat-ai[{extra}]==1.14.0'`, "
            f"or unset {key_var} to use the offline stand-in."
        )
        raise ProviderMissingError(msg) from exc


def load_bot_script(settings: Settings) -> Script:
    """The stand-ins' script, from ``BOT_SCRIPT`` (default: the one bwsim ships)."""
    return load_script(settings.script_path, setting="BOT_SCRIPT")


@dataclass(frozen=True)
class Services:
    """The three services of one call, and what each one is."""

    stt: STTService
    llm: LLMService
    tts: TTSService

    def describe(self) -> str:
        """E.g. ``stt=ScriptedSTTService llm=OpenAILLMService tts=EspeakTTSService``."""
        return " ".join(f"{k}={type(v).__name__}" for k, v in vars(self).items())


def make_services(
    settings: Settings,
    script: Script,
    caller_lines: Awaitable[Sequence[str] | None] | Sequence[str],
) -> Services:
    """Build the services for one call, as the keys in ``settings`` say."""
    if settings.deepgram_api_key:
        cls = _provider(
            "pipecat.services.deepgram.stt", "DeepgramSTTService", "DEEPGRAM_API_KEY", "deepgram"
        )
        stt = cls(api_key=settings.deepgram_api_key)
    else:
        stt = ScriptedSTTService(caller_lines, fallback=script.caller_lines, filler=script.filler)
    if settings.openai_api_key:
        cls = _provider(
            "pipecat.services.openai.llm", "OpenAILLMService", "OPENAI_API_KEY", "openai"
        )
        llm = cls(
            api_key=settings.openai_api_key,
            settings=cls.Settings(system_instruction=script.system_instruction),
        )
    else:
        llm = ScriptedLLMService(script)
    if settings.cartesia_api_key:
        cls = _provider(
            "pipecat.services.cartesia.tts", "CartesiaTTSService", "CARTESIA_API_KEY", "cartesia"
        )
        tts = cls(api_key=settings.cartesia_api_key, settings=cls.Settings(voice=CARTESIA_VOICE))
    else:
        tts = EspeakTTSService()
    services = Services(stt=stt, llm=llm, tts=tts)
    logger.info(f"bot services: {services.describe()}")
    return services
