"""The offline stand-ins as Pipecat processors, and the choice between them and providers.

The stand-ins run in Pipecat's own test pipeline (``pipecat.tests.utils.run_test``), so
the frames they exchange with the rest of a pipeline are the ones checked here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest
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

from bot.config import DEFAULT_SCRIPT, Settings
from bot.llm import ScriptedLLMService
from bot.script import load_script
from bot.services import ProviderMissingError, make_services
from bot.stt import ScriptedSTTService
from bot.tools import tools_schema
from bot.tts import EspeakTTSService

SCRIPT = load_script(DEFAULT_SCRIPT)
SETTINGS = Settings(
    proxy_host="bot.example",
    client_id="",
    client_secret="",
    webhook_username="u",
    webhook_password="p",
    human_agent_number="+19195550123",
)


def context_after(*turns: tuple[str, str]) -> LLMContext:
    """A context with the tools declared and ``(role, content)`` messages."""
    return LLMContext(
        messages=[{"role": role, "content": content} for role, content in turns],  # type: ignore[misc]
        tools=tools_schema(),
    )


async def respond(context: LLMContext) -> tuple[list[Any], list[str]]:
    """Run the scripted LLM on ``context``: the frames it pushed and the tools it called."""
    llm = ScriptedLLMService(SCRIPT)
    called: list[str] = []

    async def handler(params: FunctionCallParams) -> None:
        called.append(params.function_name)
        await params.result_callback({"status": "ok"})

    for name in ("transfer_to_human", "end_call"):
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
