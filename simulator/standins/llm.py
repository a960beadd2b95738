"""The offline LLM stand-in: replies from the script, and calls tools the way an LLM does.

It is a real Pipecat ``LLMService``: it answers each ``LLMContextFrame`` with
``LLMFullResponseStartFrame``, text, ``LLMFullResponseEndFrame``, and asks for tools
through ``run_function_calls`` with ``FunctionCallFromLLM`` records, the path the OpenAI
service takes. So the registered tool handlers, the function-call frames and the context
aggregators all run exactly as they would with a real model.

What it says depends on the last message in the context:

- the bot's kick-off when the caller connects: the greeting. That is the script's
  ``greeting_prompt`` as a user message (the guide's way), or a system message, or an
  empty context (Pipecat's examples run the LLM on their system prompt);
- a caller turn asking for a person (``patterns.transfer``): the transfer line, then
  the script's transfer tool (``transfer_to_human`` by default);
- a goodbye (``patterns.goodbye``): the farewell, then its goodbye tool (``end_call``);
- any other caller turn: the next reply, then the fallback reply once they run out;
- a tool result that asks for an answer (a failed transfer): the ``transfer_failed`` line;
- Pipecat's developer prompt after a caller turn without words: ``repeat_request``.
"""

from __future__ import annotations

import itertools
from typing import Any

from loguru import logger
from pipecat.adapters.llm.services.open_ai_adapter import OpenAILLMAdapter
from pipecat.frames.frames import (
    Frame,
    FunctionCallFromLLM,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings

from simulator.standins.script import DEFAULT_SCRIPT, Script, load_script

TRANSFER_ARGUMENTS = {"reason": "the caller asked for a person"}
"""The arguments the transfer tool is called with."""


def message_text(message: Any) -> str:
    """The text of a context message (a string, or a list of content parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


class ScriptedLLMService(LLMService):
    """Answers from the conversation script and asks for its tools, like a real LLM.

    Register the tool handlers as for any Pipecat LLM (``llm.register_function(name,
    handler)``) and declare the tools on the ``LLMContext``. Without a script it uses
    :data:`~simulator.standins.script.DEFAULT_SCRIPT`.
    """

    # Pipecat's default, named here so it is imported with this module (it pulls in the
    # OpenAI SDK, about half a second) rather than while the first caller waits.
    adapter_class = OpenAILLMAdapter

    def __init__(self, script: Script | None = None, **kwargs: Any) -> None:
        script = script or load_script(DEFAULT_SCRIPT)
        # Every settings field is filled (None: not supported) or Pipecat logs an error.
        settings = LLMSettings(
            model="scripted",
            system_instruction=script.system_instruction,
            temperature=None,
            max_tokens=None,
            top_p=None,
            top_k=None,
            frequency_penalty=None,
            presence_penalty=None,
            seed=None,
            filter_incomplete_user_turns=False,
            user_turn_completion_config=None,
        )
        super().__init__(settings=settings, **kwargs)
        self._script = script
        self._replies = iter(script.replies)
        self._call_ids = (f"scripted-call-{n}" for n in itertools.count(1))

    def _answer(self, context: LLMContext) -> tuple[str | None, str | None]:
        """What to say and which tool to call (either may be None)."""
        messages = context.get_messages()
        last: Any = messages[-1] if messages else {}
        role = last.get("role") if isinstance(last, dict) else None
        text = message_text(last)
        if role == "tool":
            return self._script.transfer_failed, None
        if role == "developer":  # Pipecat's prompt after a caller turn with no words
            return self._script.repeat_request, None
        if role in ("system", None) or (role == "user" and text == self._script.greeting_prompt):
            return self._script.greeting, None
        if role != "user":
            return None, None
        if self._script.wants_person(text):
            return self._script.transfer_line, self._script.transfer_tool
        if self._script.says_goodbye(text):
            return self._script.farewell, self._script.goodbye_tool
        return next(self._replies, self._script.fallback_reply), None

    async def _respond(self, context: LLMContext) -> None:
        text, tool = self._answer(context)
        logger.debug(f"{self}: answering with {text!r}, tool {tool}")
        if text:
            await self._push_llm_text(text)
        if tool:
            arguments = dict(TRANSFER_ARGUMENTS) if tool == self._script.transfer_tool else {}
            call = FunctionCallFromLLM(
                function_name=tool,
                tool_call_id=next(self._call_ids),
                arguments=arguments,
                context=context,
            )
            await self.run_function_calls([call])

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Answer each ``LLMContextFrame`` with one full response; pass the rest on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_processing_metrics()
            try:
                await self._respond(frame.context)
            finally:
                await self.stop_processing_metrics()
                await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)
