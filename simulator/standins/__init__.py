"""Offline stand-ins for a Pipecat bot's speech and language services, for tests under bwsim.

Three real Pipecat services that need no API key and no network:

- :class:`ScriptedSTTService`: "hears" the caller's next line, one per caller turn (after
  Silero VAD's stop and a short silence), from bwsim's control API for the call or else
  from the script;
- :class:`ScriptedLLMService`: answers from a small YAML script (:class:`Script`, the
  default is :data:`DEFAULT_SCRIPT`) and calls the bot's tools through Pipecat's own
  function-calling path;
- :class:`EspeakTTSService`: speaks with espeak-ng, from the ``espeakng-loader`` wheel.

:func:`standins` builds the three for one call. bwsim sets ``BWSIM_STANDINS=1`` (see
:data:`ENV_VAR`) for every bot it starts, unless it is already set, so a bot can choose
them without importing bwsim in production::

    if os.environ.get("BWSIM_STANDINS") == "1":
        from simulator.standins import standins

        stt, llm, tts = standins(call_id)

This package needs Pipecat and espeak-ng (``pip install 'bwsim[standins]'``); a plain
``import simulator`` never imports it.
"""

from __future__ import annotations

from simulator.standins import _requires  # noqa: F401 - first: names the extra if missing
from simulator.standins.factory import ENV_VAR, StandIns, standins
from simulator.standins.llm import ScriptedLLMService
from simulator.standins.script import DEFAULT_SCRIPT, Script, ScriptError, load_script
from simulator.standins.stt import ScriptedSTTService, fetch_caller_lines
from simulator.standins.tts import EspeakTTSService

__all__ = [
    "DEFAULT_SCRIPT",
    "ENV_VAR",
    "EspeakTTSService",
    "Script",
    "ScriptError",
    "ScriptedLLMService",
    "ScriptedSTTService",
    "StandIns",
    "fetch_caller_lines",
    "load_script",
    "standins",
]
