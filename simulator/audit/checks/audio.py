"""Checks on what the caller hears: the greeting, barge-in, and well-formed ``playAudio``.

- ``audio.greeting``: the guide's bot greets as soon as the client connects; a caller
  who hears nothing for seconds hangs up. Measured on the recording, in 20 ms blocks
  above about -40 dBFS, so streamed silence does not count.
- ``audio.clear_on_barge_in``: when the caller talks over the bot, Bandwidth keeps
  playing whatever ``playAudio`` it has queued until the bot sends ``clear``. The check
  needs the bot to be speaking when the caller starts, a ``clear`` within the budget,
  and the bot's audio to stop with it (Pipecat sends ``clear`` at every caller turn, so
  the clear alone proves nothing).
- ``audio.valid_output``: every frame the bot sent is one Bandwidth accepts on that
  stream (docs/bandwidth.md §1.6): ``playAudio`` with ``audio/pcmu`` or
  ``audio/pcm;rate=8000|16000|24000;channels=1;bit-depth=16;endian=little;encoding=signed``,
  valid base64, whole samples, on a bidirectional stream; or ``clear``.
"""

from __future__ import annotations

from typing import Any

from simulator.audit.context import AuditContext
from simulator.audit.evidence import audible_ms, first_audible_ms
from simulator.audit.model import Verdict, failed, inconclusive, missed, passed, skipped
from simulator.audit.rules import measure_barge_in, sentence
from simulator.audit.scenarios import await_greeting, conversation
from simulator.call.live import LiveCall
from simulator.errors import CallTimeout

__all__ = ["clear_on_barge_in", "greeting", "valid_output"]

TALK_ON_MS = 2000.0
"""How long the caller keeps talking after the bot's ``clear`` (the audio must stay off)."""


async def greeting(ctx: AuditContext) -> Verdict:
    """``audio.greeting``: the caller hears the bot within the budget after the stream opens."""
    conv = await ctx.shared("conversation", lambda: conversation(ctx))
    budget = ctx.config.greeting_budget_ms
    accepted = conv.accepted_ms
    if accepted is None:
        return failed(
            "the bot's stream never opened, so nothing could be heard (see bxml.stream): "
            "answer the webhook with a <StartStream> the bot accepts",
            call_id=conv.result.call_id,
        )
    track = conv.result.recorder.bot_track()
    heard = first_audible_ms(track, accepted)
    first_frame = conv.result.recorder.first("bot-audio-first")
    evidence: dict[str, Any] = {
        "call_id": conv.result.call_id,
        "stream_accepted_ms": round(accepted, 1),
        "first_playaudio_heard_ms": None if first_frame is None else round(first_frame.at_ms, 1),
        "first_audible_ms": heard,
        "budget_ms": budget,
    }
    if heard is None:
        return failed(
            "the caller heard nothing from the bot during the whole call: greet the caller "
            "as soon as the stream connects",
            **evidence,
        )
    latency = round(heard - accepted, 1)
    evidence["latency_ms"] = latency
    evidence["audible_first_2s_ms"] = audible_ms(track, heard, heard + 2000)
    if latency > budget:
        return missed(
            f"the caller first heard the bot {latency:.0f} ms after the stream opened, over "
            f"the {budget:.0f} ms budget: start the greeting when the client connects",
            over=latency / budget,
            **evidence,
        )
    return passed(
        f"the caller heard the bot {latency:.0f} ms after the stream opened "
        f"(budget {budget:.0f} ms)",
        **evidence,
    )


async def valid_output(ctx: AuditContext) -> Verdict:
    """``audio.valid_output``: every frame the bot sent is valid for its stream."""
    conv = await ctx.shared("conversation", lambda: conversation(ctx))
    result = conv.result
    frames = sum(s.play_audio_frames for s in result.streams)
    media = [v for v in result.violations if v.kind.startswith("media-")]
    evidence: dict[str, Any] = {
        "call_id": result.call_id,
        "play_audio_frames": frames,
        "content_types": sorted({ct for s in result.streams for ct in s.content_types}),
        "clears": sum(s.clears for s in result.streams),
        "violations": [
            {k: v.report().get(k) for k in ("rule", "detail", "frame", "at_ms")} for v in media[:10]
        ],
    }
    if media:
        problems = [f"{v.rule}: {v.detail}" for v in media]
        return failed(
            sentence(
                [f"the bot sent {len(media)} invalid frame(s), first {problems[0]}"],
                "send only playAudio (audio/pcmu, or audio/pcm;rate=8000|16000|24000;"
                "channels=1;bit-depth=16;endian=little;encoding=signed, base64) and clear",
            ),
            **evidence,
        )
    if frames == 0:
        return skipped("the bot sent no playAudio during the call, so there was none to check")
    return passed(
        f"all {frames} playAudio frames ({', '.join(evidence['content_types'])}) were valid "
        "for the bidirectional stream",
        **evidence,
    )


async def clear_on_barge_in(ctx: AuditContext) -> Verdict:
    """``audio.clear_on_barge_in``: talked over, the bot clears and its audio stops."""
    check = "audio.clear_on_barge_in"
    speech = ctx.lines["monologue"]
    budget = ctx.config.clear_budget_ms
    seen: dict[str, Any] = {}

    async def caller(call: LiveCall) -> None:
        await await_greeting(call, ctx.config.greeting_budget_ms, seen, until_done=False)
        if "speech_start_ms" not in seen:
            return
        await call.pause(500)  # well into the greeting
        await call.say(speech.samples, label="barge-in", wait=False)
        edge = await call.wait_for(
            "caller-audio-start", timeout_ms=2000, after_ms=seen["speech_start_ms"]
        )
        seen["caller_start_ms"] = edge.at_ms
        try:
            clear = await call.wait_for("clear", timeout_ms=budget + 1500, after_ms=edge.at_ms)
            seen["clear_ms"] = clear.at_ms
        except CallTimeout:
            pass
        await call.pause(TALK_ON_MS)
        call.stop_talking()
        seen["caller_end_ms"] = call.ms()
        await call.pause(200)

    options = ctx.options(caller_lines=[speech.text], max_call_s=60)
    result = await ctx.place_call(check, caller, options, priority=0, alone=True)
    evidence: dict[str, Any] = {"call_id": result.call_id, "budget_ms": budget}
    if "speech_start_ms" not in seen or "caller_start_ms" not in seen:
        return inconclusive(
            "the bot never started speaking, so there was nothing to talk over (see "
            "audio.greeting)",
            **evidence,
        )
    clears = [e.at_ms for e in result.events("clear")]
    barge = measure_barge_in(
        result.recorder.bot_track(), clears, seen["caller_start_ms"], seen["caller_end_ms"]
    )
    evidence.update(barge.to_evidence())
    evidence["clears"] = [{"at_ms": round(e.at_ms, 1), **e.detail} for e in result.events("clear")][
        :10
    ]
    if not barge.speaking:
        return inconclusive(
            "the bot had stopped speaking when the caller started (its greeting was too "
            "short to talk over), so barge-in could not be judged",
            **evidence,
        )
    heard = barge.heard_after_start_ms
    if barge.latency_ms is None:  # none at all while the caller talked: not a matter of time
        return failed(
            f"the caller talked over the bot and no clear came within {budget + 1500:.0f} ms; "
            f"the caller heard {heard:.0f} ms of bot audio meanwhile: send clear as soon as "
            "the caller starts speaking (Pipecat: keep interruptions enabled)",
            **evidence,
        )
    if barge.latency_ms > budget:
        return missed(
            f"clear came {barge.latency_ms:.0f} ms after the caller started talking, over the "
            f"{budget:.0f} ms budget: detect the caller's speech sooner (VAD start_secs)",
            over=barge.latency_ms / budget,
            **evidence,
        )
    if not barge.stopped():
        return failed(
            f"the bot sent clear after {barge.latency_ms:.0f} ms but its audio went on: the "
            f"caller heard {barge.heard_after_clear_ms:.0f} ms more while still talking; stop "
            "sending the interrupted speech after clear",
            **evidence,
        )
    return passed(
        f"talked over, the bot sent clear after {barge.latency_ms:.0f} ms and went quiet; the "
        f"caller heard {heard:.0f} ms of bot audio after starting to talk",
        **evidence,
    )
