"""The caller's side of a replay: the recorded caller, spoken into a live call.

``recorded`` timing sends the caller's whole recorded leg (its silences included: they
are frames too) starting as long after the stream opened as it did in the recording.
``turns`` timing sends each caller turn once the bot has done what it did before that
turn in the recording (:mod:`simulator.replay.turns`), then waits the recorded delay. A
reply that never comes is waited for at most ``reply_timeout_ms``; the turn is then sent
anyway and a note says so. After its last words the caller stays on the line for
``hangup_after_ms`` (the bot may hang up meanwhile, as it did in the recording), then
hangs up.
"""

from __future__ import annotations

from simulator.call.live import CallEnded, Caller, LiveCall
from simulator.errors import CallTimeout
from simulator.replay.plan import ReplayPlan
from simulator.replay.turns import TurnStep

__all__ = ["STREAM_OPEN_TIMEOUT_MS", "play_replay", "replay_caller"]

STREAM_OPEN_TIMEOUT_MS = 30_000.0
"""How long the caller waits for the bot's media stream before giving up (with a note)."""


def replay_caller(plan: ReplayPlan, notes: list[str]) -> Caller:
    """The caller script of ``plan``; what it could not do as recorded goes to ``notes``."""

    async def caller(call: LiveCall) -> None:
        await play_replay(call, plan, notes)

    return caller


async def play_replay(call: LiveCall, plan: ReplayPlan, notes: list[str] | None = None) -> None:
    """Play ``plan``'s caller on ``call`` to its end (a scenario's ``replay:`` step).

    Returns when the caller has hung up or the call has ended; what could not be done as
    recorded is a ``note`` on the timeline (and in ``notes``).
    """
    try:
        await _play(call, plan, [] if notes is None else notes)
    except CallEnded:
        return


async def _play(call: LiveCall, plan: ReplayPlan, notes: list[str]) -> None:
    try:
        opened = await call.wait_for("stream_accepted", timeout_ms=STREAM_OPEN_TIMEOUT_MS)
    except CallTimeout:
        _note(
            call,
            notes,
            f"no media stream opened within {STREAM_OPEN_TIMEOUT_MS:.0f} ms: the recorded "
            "caller was not played",
        )
        call.hangup()
        return
    if plan.timing == "recorded":
        await _pause_until(call, opened.at_ms + plan.offset_ms)
        if len(plan.caller):
            await call.say(plan.caller, "recording")
    else:
        cursor = opened.at_ms
        for step in plan.turns:
            anchor = await _anchor(call, step, plan, notes, opened_ms=opened.at_ms, cursor=cursor)
            await _pause_until(call, anchor + step.delay_ms)
            await call.say(step.samples, f"turn {step.index}")
            cursor = call.ms()
    await call.pause(plan.hangup_after_ms)
    call.hangup()


async def _anchor(
    call: LiveCall,
    step: TurnStep,
    plan: ReplayPlan,
    notes: list[str],
    *,
    opened_ms: float,
    cursor: float,
) -> float:
    """When the thing ``step`` waits for happened in this call (ms on the call clock)."""
    if step.after == "stream":
        return opened_ms
    if step.after == "turn-end":
        return cursor
    after = opened_ms if step.after == "greeting" else cursor
    try:
        event = await call.wait_for(
            "bot_speech_start", timeout_ms=plan.reply_timeout_ms, after_ms=after
        )
    except CallTimeout:
        what = "greet" if step.after == "greeting" else f"answer turn {step.index - 1}"
        _note(
            call,
            notes,
            f"turn {step.index}: the bot did not {what} within {plan.reply_timeout_ms:.0f} ms "
            f"(it did in the recording); turn {step.index} was sent anyway",
        )
        return call.ms() - step.delay_ms
    return event.at_ms


async def _pause_until(call: LiveCall, at_ms: float) -> None:
    wait = at_ms - call.ms()
    if wait > 0:
        await call.pause(wait)


def _note(call: LiveCall, notes: list[str], text: str) -> None:
    notes.append(text)
    call.recorder.event("note", detail=text)
