"""The offline stand-ins (simulator.standins) as Pipecat processors, and their factory.

The stand-ins run in Pipecat's own test pipeline (``pipecat.tests.utils.run_test``), so
the frames they exchange with the rest of a pipeline are the ones checked here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import FunctionCallParams
from pipecat.tests.utils import SleepFrame, run_test

from simulator.runner.servers import serve
from simulator.standins import (
    DEFAULT_SCRIPT,
    EspeakTTSService,
    Script,
    ScriptedLLMService,
    ScriptedSTTService,
    load_script,
    standins,
)

SCRIPT = load_script(DEFAULT_SCRIPT)


def tools_schema(*names: str) -> ToolsSchema:
    """The tools a bot declares on its context (the guide's two unless ``names`` differ)."""
    return ToolsSchema(
        standard_tools=[
            FunctionSchema(name=n, description=n, properties={}, required=[])
            for n in (names or ("transfer_to_human", "end_call"))
        ]
    )


def context_after(*turns: tuple[str, str]) -> LLMContext:
    """A context with the tools declared and ``(role, content)`` messages."""
    return LLMContext(
        messages=[{"role": role, "content": content} for role, content in turns],  # type: ignore[misc]
        tools=tools_schema(),
    )


async def respond(
    context: LLMContext, script: Script = SCRIPT, tools: tuple[str, ...] = ()
) -> tuple[list[Any], list[str]]:
    """Run the scripted LLM on ``context``: the frames it pushed and the tools it called."""
    llm = ScriptedLLMService(script)
    called: list[str] = []

    async def handler(params: FunctionCallParams) -> None:
        called.append(params.function_name)
        await params.result_callback({"status": "ok"})

    for name in tools or ("transfer_to_human", "end_call"):
        llm.register_function(name, handler)
    down, _ = await run_test(
        llm, frames_to_send=[LLMContextFrame(context), SleepFrame(0.1)], expected_down_frames=None
    )
    return list(down), called


def spoken_text(frames: list[Any]) -> str:
    """What the LLM said: its text frames joined."""
    return "".join(f.text for f in frames if isinstance(f, LLMTextFrame))


async def test_the_greeting_prompt_gets_the_greeting() -> None:
    """The guide's seed message is answered with the script's greeting, in one response."""
    down, called = await respond(context_after(("user", SCRIPT.greeting_prompt)))
    assert spoken_text(down) == SCRIPT.greeting
    kinds = [type(f) for f in down]
    assert kinds.index(LLMFullResponseStartFrame) < kinds.index(LLMTextFrame)
    assert kinds.index(LLMTextFrame) < kinds.index(LLMFullResponseEndFrame)
    assert called == []


@pytest.mark.parametrize(
    "kick_off",
    [
        [("system", "You are a helpful assistant."), ("system", "Introduce yourself.")],
        [],
    ],
    ids=["system-prompt", "empty-context"],
)
async def test_a_bots_own_kick_off_gets_the_greeting(kick_off: list[tuple[str, str]]) -> None:
    """Run on a system prompt or on nothing, as Pipecat's examples greet, the LLM greets."""
    down, called = await respond(context_after(*kick_off))
    assert (spoken_text(down), called) == (SCRIPT.greeting, [])


async def test_an_assistant_turn_last_gets_no_answer() -> None:
    """The rule above is not "always greet": after the bot's own turn it says nothing."""
    down, _ = await respond(context_after(("user", "Hi."), ("assistant", "Hello.")))
    assert spoken_text(down) == ""


@pytest.mark.parametrize(
    ("said", "line", "tool"),
    [
        ("I would like to speak to a person please.", SCRIPT.transfer_line, "transfer_to_human"),
        ("Thank you, goodbye.", SCRIPT.farewell, "end_call"),
    ],
)
async def test_a_request_gets_its_line_and_a_tool_through_pipecats_function_calling(
    said: str, line: str, tool: str
) -> None:
    """The line is spoken and the tool runs via FunctionCallFromLLM and the registered handler."""
    down, called = await respond(
        context_after(
            ("user", SCRIPT.greeting_prompt), ("assistant", SCRIPT.greeting), ("user", said)
        )
    )
    assert spoken_text(down) == line
    assert called == [tool]
    kinds = [type(f) for f in down]
    assert FunctionCallsStartedFrame in kinds
    assert FunctionCallInProgressFrame in kinds
    assert FunctionCallResultFrame in kinds


async def test_other_turns_get_the_replies_in_order() -> None:
    """Each plain caller turn gets the next reply; the fallback once they run out."""
    llm_script = replace(SCRIPT, replies=("First.", "Second."))
    llm = ScriptedLLMService(llm_script)
    frames = [LLMContextFrame(context_after(("user", f"question {n}?"))) for n in range(3)]
    down, _ = await run_test(llm, frames_to_send=frames, expected_down_frames=None)
    texts = [f.text for f in down if isinstance(f, LLMTextFrame)]
    assert texts == ["First.", "Second.", SCRIPT.fallback_reply]


async def test_the_stt_reports_one_line_per_turn_after_a_real_pause() -> None:
    """A pause the caller talks through adds nothing; a pause that lasts reports one line."""
    stt = ScriptedSTTService(["first line", "second line"], endpointing_s=0.05)
    frames = [
        VADUserStartedSpeakingFrame(),
        UserStartedSpeakingFrame(),
        VADUserStoppedSpeakingFrame(),  # a comma: the caller goes on at once
        VADUserStartedSpeakingFrame(),
        SleepFrame(0.1),
        VADUserStoppedSpeakingFrame(),  # the end of the sentence
        SleepFrame(0.1),
        VADUserStartedSpeakingFrame(),  # more sound in the same turn: nothing new
        VADUserStoppedSpeakingFrame(),
        SleepFrame(0.1),
        UserStoppedSpeakingFrame(),
        VADUserStartedSpeakingFrame(),  # the next turn
        UserStartedSpeakingFrame(),
        VADUserStoppedSpeakingFrame(),
        SleepFrame(0.1),
    ]
    down, _ = await run_test(stt, frames_to_send=frames, expected_down_frames=None)
    transcripts = [f for f in down if isinstance(f, TranscriptionFrame)]
    assert [t.text for t in transcripts] == ["first line", "second line"]
    assert all(t.finalized for t in transcripts)


async def test_the_stt_falls_back_to_the_scripts_lines_then_the_filler() -> None:
    """No lines from the simulator: the script's caller lines, then the filler for each turn."""
    stt = ScriptedSTTService([], fallback=["from the script"], filler="um", endpointing_s=0.01)
    turn = [UserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(), SleepFrame(0.05)]
    down, _ = await run_test(stt, frames_to_send=turn * 2, expected_down_frames=None)
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == ["from the script", "um"]


async def test_a_script_names_the_bots_own_tools() -> None:
    """A script's tools key makes the LLM call the bot's own tool names, or none."""
    script = replace(SCRIPT, transfer_tool="handoff", goodbye_tool=None)
    context = LLMContext(
        messages=[{"role": "user", "content": "Get me a person."}],
        tools=tools_schema("handoff"),
    )
    down, called = await respond(context, script, tools=("handoff",))
    assert (spoken_text(down), called) == (SCRIPT.transfer_line, ["handoff"])
    bye = LLMContext(messages=[{"role": "user", "content": "Bye."}], tools=tools_schema("handoff"))
    down, called = await respond(bye, script, tools=("handoff",))
    assert (spoken_text(down), called) == (SCRIPT.farewell, [])


def test_the_llm_defaults_to_the_shipped_script() -> None:
    """Built with no script, the LLM answers from DEFAULT_SCRIPT."""
    llm = ScriptedLLMService()
    assert llm._answer(context_after(("user", SCRIPT.greeting_prompt))) == (SCRIPT.greeting, None)


async def heard(stt: ScriptedSTTService, turns: int) -> list[str]:
    """Run ``turns`` caller turns through ``stt``: the lines it reported."""
    turn = [UserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(), SleepFrame(0.05)]
    down, _ = await run_test(stt, frames_to_send=turn * turns, expected_down_frames=None)
    return [f.text for f in down if isinstance(f, TranscriptionFrame)]


def test_the_factory_builds_the_three_stand_ins() -> None:
    """standins() gives the scripted STT and LLM and the espeak TTS, unpackable in order."""
    stt, llm, tts = standins()
    assert isinstance(stt, ScriptedSTTService)
    assert isinstance(llm, ScriptedLLMService)
    assert isinstance(tts, EspeakTTSService)


async def test_the_factory_takes_the_callers_lines_from_bwsim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With BWSIM_CONTROL_URL and a call id, the STT reports bwsim's lines for that call."""
    app = FastAPI()
    asked: list[str] = []

    @app.get("/_bwsim/calls/{call_id}/caller-lines")
    async def lines(call_id: str) -> dict[str, list[str]]:
        asked.append(call_id)
        return {"lines": ["from bwsim"]}

    async with serve(app) as server:
        monkeypatch.setenv("BWSIM_CONTROL_URL", f"{server.base_url}/_bwsim/")
        stt = standins("c-42").stt
        stt._endpointing_s = 0.01
        assert await heard(stt, 2) == ["from bwsim"]
    assert asked == ["c-42"]


async def test_the_factory_falls_back_to_the_scripts_lines(tmp_path: Path) -> None:
    """No answer from the control API: the STT reports the script's caller lines."""
    data = yaml.safe_load(DEFAULT_SCRIPT.read_text(encoding="utf-8")) | {"caller_lines": ["mine"]}
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    # Port 9 on loopback: nothing listens, so the fetch fails at once.
    stt = standins("c-1", script=path, control_url="http://127.0.0.1:9/_bwsim").stt
    stt._endpointing_s = 0.01
    assert await heard(stt, 1) == ["mine"]
