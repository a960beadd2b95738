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

try:
    import espeakng_loader  # noqa: F401 - checked here so the message names the extra
    import pipecat  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    _MISSING = (
        f"simulator.standins needs Pipecat and espeak-ng, but {exc.name or exc} is not "
        "installed: install bwsim's `standins` extra, e.g. `pip install 'bwsim[standins]'` "
        "or `uv add --dev 'bwsim[standins]'`"
    )
    raise ImportError(_MISSING, name=exc.name) from exc

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
