"""The offline speech-to-text stand-in: it "hears" the next line of the caller's script.

It sits where the guide's Deepgram STT sits (between ``transport.input()`` and the user
context aggregator). The aggregator runs Silero VAD and broadcasts what it decides in
both directions, so the stand-in sees it coming upstream. Like a streaming STT's
endpointing, it reports the caller's line, as one finalized ``TranscriptionFrame``, once
the caller has paused (``VADUserStoppedSpeakingFrame``) and has stayed silent for
``endpointing_s``; a pause the caller talks on through (a comma, a breath) reports
nothing. The user aggregator's turn-stop strategy waits for that transcript before it
runs the LLM, so one spoken sentence is one caller turn and one line. Once a line has
been reported, the rest of that turn adds nothing.

The lines come from the simulator's control API for this call
(``GET $BWSIM_CONTROL_URL/calls/{callId}/caller-lines``, with the run's token
``$BWSIM_CONTROL_TOKEN`` as ``Authorization: Bearer``), fetched once when the pipeline
starts, or else from the script's ``caller_lines``.

The audio itself is never transcribed, so the stand-in needs a VAD upstream of it that
broadcasts ``VADUserStartedSpeakingFrame``/``VADUserStoppedSpeakingFrame``, as Pipecat's
user aggregator does with a ``vad_analyzer`` (Silero).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Awaitable, Sequence
from typing import Any

import httpx
from loguru import logger
from pipecat.frames.frames import (
    Frame,
    StartFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.utils.time import time_now_iso8601

from simulator.rest.control_guard import TOKEN_VAR

LINES_TIMEOUT_S = 2.0
ENDPOINTING_S = 0.4
"""Silence after VAD's stop before the line is reported: longer than a comma's pause."""


async def fetch_caller_lines(
    control_url: str, call_id: str, token: str | None = None
) -> list[str] | None:
    """The simulator's caller lines for ``call_id``; None if it has none or cannot answer.

    ``token`` is the control API's (default ``$BWSIM_CONTROL_TOKEN``, which bwsim gives
    every bot it starts and ``bwsim serve`` exports).
    """
    url = f"{control_url}/calls/{call_id}/caller-lines"
    token = token if token is not None else os.environ.get(TOKEN_VAR, "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(timeout=LINES_TIMEOUT_S) as client:
            r = await client.get(url, headers=headers)
            r.raise_for_status()
            lines = r.json().get("lines")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        logger.warning(f"caller lines for call {call_id}: {url} failed ({exc!r})")
        return None
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        logger.warning(f"caller lines for call {call_id}: {url} answered no list of strings")
        return None
    return lines or None


class ScriptedSTTService(STTService):
    """Reports one scripted caller line per caller turn, as a finalized transcript.

    ``lines`` are the caller's lines, or an awaitable of them (e.g.
    :func:`fetch_caller_lines`, started when the pipeline starts and awaited at the first
    turn, for at most 2 s); when it gives none, ``fallback`` is used. Once the lines have
    run out, each turn reports ``filler`` (None: nothing).
    """

    def __init__(
        self,
        lines: Awaitable[Sequence[str] | None] | Sequence[str],
        *,
        fallback: Sequence[str] = (),
        filler: str | None = None,
        endpointing_s: float = ENDPOINTING_S,
        **kwargs: Any,
    ) -> None:
        # ttfs_p99_latency 0: the transcript is final when it comes, so the turn-stop
        # strategy need not wait any longer for a better one.
        super().__init__(
            settings=STTSettings(model=None, language=None), ttfs_p99_latency=0.0, **kwargs
        )
        self._fallback = list(fallback)
        self._pending: Awaitable[Sequence[str] | None] | None = (
            None if isinstance(lines, Sequence) else lines
        )
        self._lines: list[str] = []
        if isinstance(lines, Sequence):
            self._lines = list(lines) or list(self._fallback)
        self._filler = filler
        self._endpointing_s = endpointing_s
        self._heard_this_turn = False
        self._endpoint_task: asyncio.Task[None] | None = None
        self.heard: list[str] = []

    async def start(self, frame: StartFrame) -> None:
        """Start fetching the caller's lines now, so the first turn need not wait for them."""
        await super().start(frame)
        if asyncio.iscoroutine(self._pending):
            self._pending = self.create_task(self._pending, name="caller-lines")

    async def _next_line(self) -> str | None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                lines = await asyncio.wait_for(pending, LINES_TIMEOUT_S)
            except TimeoutError:
                lines = None
            self._lines = list(lines) if lines else list(self._fallback)
            logger.debug(f"{self}: {len(self._lines)} caller lines")
        if self._lines:
            return self._lines.pop(0)
        return self._filler

    async def _endpoint(self) -> None:
        """After ``endpointing_s`` of silence, report the caller's next line."""
        await asyncio.sleep(self._endpointing_s)
        self._endpoint_task = None
        self._heard_this_turn = True
        text = await self._next_line()
        if text:
            self.heard.append(text)
            logger.info(f"{self}: caller said {text!r}")
            await self.push_frame(TranscriptionFrame(text, "", time_now_iso8601(), finalized=True))

    async def _cancel_endpoint(self) -> None:
        if self._endpoint_task is not None:
            task, self._endpoint_task = self._endpoint_task, None
            await self.cancel_task(task)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        """Nothing: the audio is not transcribed, the script says what the caller said."""
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Follow the caller's turns (VAD and user-turn frames) to time each line."""
        await super().process_frame(frame, direction)
        if isinstance(frame, (UserStartedSpeakingFrame, UserStoppedSpeakingFrame)):
            self._heard_this_turn = False
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._cancel_endpoint()  # the caller talks on: not the end of the line
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and not self._heard_this_turn:
            await self._cancel_endpoint()
            self._endpoint_task = self.create_task(self._endpoint(), name="endpoint")

    async def cleanup(self) -> None:
        """Stop the endpoint timer and a fetch of the lines still running."""
        await self._cancel_endpoint()
        pending, self._pending = self._pending, None
        if asyncio.iscoroutine(pending):
            pending.close()  # never started: the pipeline did not start
        elif isinstance(pending, asyncio.Task) and not pending.done():
            await self.cancel_task(pending)
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it unannotated
