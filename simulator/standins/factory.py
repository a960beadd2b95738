"""The three stand-ins of one call, built in one line: ``stt, llm, tts = standins(call_id)``."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import NamedTuple

from simulator.standins.llm import ScriptedLLMService
from simulator.standins.script import DEFAULT_SCRIPT, Script, load_script
from simulator.standins.stt import ScriptedSTTService, fetch_caller_lines
from simulator.standins.tts import EspeakTTSService

ENV_VAR = "BWSIM_STANDINS"
"""Set to ``1`` by bwsim for every bot it starts (``--app``, ``--cmd``) unless it is set
already; a bot reads it to choose the stand-ins. ``BWSIM_STANDINS=0 bwsim run …`` keeps
a bot on its real providers."""
CONTROL_URL_VAR = "BWSIM_CONTROL_URL"
"""bwsim's control API, set for every bot it starts: the caller's lines for each call."""


class StandIns(NamedTuple):
    """The offline STT, LLM and TTS of one call (unpack it: ``stt, llm, tts = …``)."""

    stt: ScriptedSTTService
    llm: ScriptedLLMService
    tts: EspeakTTSService


def standins(
    call_id: str | None = None,
    *,
    script: Script | str | Path | None = None,
    control_url: str | None = None,
) -> StandIns:
    """The stand-ins for the call ``call_id`` (Bandwidth's ``callId``), to put in a pipeline.

    The STT reports the caller lines bwsim has for the call (from ``control_url``, by
    default ``$BWSIM_CONTROL_URL``), or the script's ``caller_lines`` when there are none
    or no call id is given. The LLM answers from ``script``: a :class:`Script`, the path of
    a script file, or None for :data:`DEFAULT_SCRIPT`. Register the bot's tool handlers
    on ``llm`` as for any Pipecat LLM.
    """
    if not isinstance(script, Script):
        script = load_script(DEFAULT_SCRIPT if script is None else script)
    url = (control_url or os.environ.get(CONTROL_URL_VAR) or "").rstrip("/")
    lines: Awaitable[Sequence[str] | None] | Sequence[str] = script.caller_lines
    if url and call_id:
        lines = fetch_caller_lines(url, call_id)
    return StandIns(
        stt=ScriptedSTTService(lines, fallback=script.caller_lines, filler=script.filler),
        llm=ScriptedLLMService(script),
        tts=EspeakTTSService(),
    )
