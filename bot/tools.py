"""The LLM's tools: ``transfer_to_human`` and ``end_call``, bound to the trusted call.

The handlers close over the :class:`~bot.tokens.Binding` of the call (ids from the
authenticated webhook). The LLM's arguments are never used to pick a call: a model can
be talked into anything, so what it asks for only says *that* it wants a tool.

- ``transfer_to_human`` waits until the line that announced the transfer has been
  played, then replaces the call's BXML with ``<Transfer>`` (``PUT …/bxml``). Bandwidth
  then stops the media stream and the pipeline ends with the socket.
- ``end_call`` pushes ``EndWorkerFrame`` downstream: it follows the farewell through the
  TTS and the output transport, so the pipeline ends once the farewell has been played,
  while the socket is still open (the serializer's own hang-up runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    FunctionCallResultProperties,
    LLMFullResponseEndFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams

from bot.tokens import Binding
from bot.voice_api import VoiceApi

PLAYOUT_TIMEOUT_S = 30.0
"""Longest wait for an announcement to be played before the transfer goes ahead anyway."""
AFTER_PLAYOUT_S = 0.2
"""Margin for the last audio frame still in Bandwidth's buffer when playout ends here."""

TRANSFER_TOOL = FunctionSchema(
    name="transfer_to_human",
    description=(
        "Transfer the caller to a live human agent. Call this when the caller asks to "
        "speak to a person, says they want a human, or when you cannot help them and an "
        "agent should take over."
    ),
    properties={
        "reason": {"type": "string", "description": "Short reason for the transfer, for logging."}
    },
    required=["reason"],
)
END_CALL_TOOL = FunctionSchema(
    name="end_call",
    description="End the call after you have said goodbye to the caller.",
    properties={},
    required=[],
)


def tools_schema() -> ToolsSchema:
    """The tools the LLM is offered (declared on the context, as Pipecat 1.14 wants)."""
    return ToolsSchema(standard_tools=[TRANSFER_TOOL, END_CALL_TOOL])


class PlayoutMonitor(FrameProcessor):
    """Placed after ``transport.output()``: tells when an LLM response has been played.

    The output transport passes ``LLMFullResponseEndFrame`` on only after the audio queued
    before it was written at real-time pace, so its arrival here marks the end of playout.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ended = asyncio.Condition()
        self._count = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseEndFrame) and direction == FrameDirection.DOWNSTREAM:
            async with self._ended:
                self._count += 1
                self._ended.notify_all()
        await self.push_frame(frame, direction)

    async def response_played(self, timeout_s: float = PLAYOUT_TIMEOUT_S) -> bool:
        """Wait for the next response to finish playing; False on timeout."""
        async with self._ended:
            seen = self._count
            try:
                await asyncio.wait_for(self._ended.wait_for(lambda: self._count > seen), timeout_s)
            except TimeoutError:
                return False
        return True


@dataclass
class CallTools:
    """The tool handlers of one call, and what they did."""

    call: Binding
    voice_api: VoiceApi
    playout: PlayoutMonitor
    transferred: bool = False
    ended_by_bot: bool = False
    log: list[str] = field(default_factory=list)

    async def transfer_to_human(self, params: FunctionCallParams) -> None:
        """Play the announcement out, then ``PUT <Transfer>`` on the trusted call."""
        reason = params.arguments.get("reason", "")
        logger.info(f"transfer_to_human for call {self.call.call_id} (reason: {reason!r})")
        if await self.playout.response_played():
            await asyncio.sleep(AFTER_PLAYOUT_S)
        else:
            logger.warning("the transfer announcement did not finish playing; transferring")
        status = await self.voice_api.transfer(self.call)
        self.log.append(f"transfer:{status}")
        if status is not None and status < 300:
            self.transferred = True
            # The transfer takes the caller away; nothing more for the LLM to say.
            await params.result_callback(
                {"status": "transferring"}, properties=FunctionCallResultProperties(run_llm=False)
            )
        else:
            await params.result_callback({"status": "failed", "http_status": status})

    async def end_call(self, params: FunctionCallParams) -> None:
        """End the pipeline once the farewell has been played."""
        logger.info(f"end_call for call {self.call.call_id}")
        self.ended_by_bot = True
        self.log.append("end_call")
        await params.result_callback(
            {"status": "ending"}, properties=FunctionCallResultProperties(run_llm=False)
        )
        await params.llm.push_frame(EndWorkerFrame(reason="end_call"))

    def handlers(self) -> dict[str, Callable[[FunctionCallParams], Awaitable[None]]]:
        """Name → handler, for ``llm.register_function``."""
        return {"transfer_to_human": self.transfer_to_human, "end_call": self.end_call}
