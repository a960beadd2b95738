"""The caller's side of one scenario: its steps played on a live call, and its call options.

Split from :mod:`simulator.runner.suite`, which runs and judges the scenarios; this module
only turns a scenario's ``caller`` steps and ``call`` section into what
:class:`~simulator.call.live.LiveCall` and :class:`~simulator.call.options.CallOptions` take.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from simulator.call.live import CallEnded, LiveCall
from simulator.call.options import CallOptions
from simulator.call.outbound import OutboundTrigger
from simulator.errors import CallTimeout
from simulator.judge.scenario import EVENTS, Action, Scenario
from simulator.judge.templates import fill_templates
from simulator.protocol.create_call import CalleePlan
from simulator.replay.caller import play_replay

__all__ = [
    "act",
    "call_options",
    "outbound_call",
    "scenario_caller",
    "scenario_weight",
    "step_name",
]


def step_name(n: int, action: Action) -> str:
    """How a problem names caller step ``n``: its number, line and what it does."""
    return f"caller step {n} (line {action.line}, {action.describe()})"


async def act(call: LiveCall, action: Action, cursor: float) -> float:
    """Do one action; returns the new time cursor (ms) for the next one."""
    if action.send_after:
        event = await call.wait_for(
            EVENTS[action.send_after], timeout_ms=action.within_ms, after_ms=cursor
        )
        cursor = event.at_ms
    if action.delay_ms:
        await call.pause(action.delay_ms)
    kind = action.kind
    if kind == "say":
        assert action.samples is not None
        assert action.audio is not None
        await call.say(action.samples, label=action.audio.name, wait=action.wait)
    elif kind == "silence":
        await call.pause(action.ms)
    elif kind == "stay":
        with contextlib.suppress(CallEnded):
            await call.pause(action.ms)
    elif kind == "wait_for":
        assert action.event is not None
        event = await call.wait_for(
            EVENTS[action.event], timeout_ms=action.within_ms, after_ms=cursor
        )
        return max(event.at_ms, cursor)
    elif kind == "hangup":
        call.hangup()
    elif kind == "drop":
        call.drop_streams()
    elif kind == "replay_stream":
        await call.replay_stream()
    elif kind == "dtmf":
        assert action.digits is not None
        await call.press(action.digits, action.gap_ms)
    elif kind == "replay":
        assert action.replay is not None
        await play_replay(call, action.replay)
    return call.ms()


def scenario_caller(scenario: Scenario, problems: list[str]) -> Callable[[LiveCall], Any]:
    """The caller of ``scenario``: its steps in order; a step's failure goes to ``problems``."""

    async def caller(call: LiveCall) -> None:
        cursor = 0.0
        for n, action in enumerate(scenario.caller, start=1):
            try:
                cursor = await act(call, action, cursor)
            except CallEnded:
                rest = len(scenario.caller) - n
                if action.kind not in ("silence", "stay") or rest:
                    call.recorder.event(
                        "note", detail=f"the call ended during {step_name(n, action)}"
                    )
                return
            except CallTimeout as exc:
                problems.append(f"{step_name(n, action)}: {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - reported against the scenario, never lost
                problems.append(f"{step_name(n, action)} failed: {type(exc).__name__}: {exc}")
                return

    return caller


def call_options(scenario: Scenario, templates: Mapping[str, str]) -> CallOptions:
    """The call ``scenario`` places, its ``{{…}}`` templates filled from ``templates``."""
    spec = scenario.call
    return CallOptions(
        from_=spec.from_,
        to=spec.to,
        webhook_path=spec.webhook_path,
        disconnect_path=spec.disconnect_path,
        auth_mode=spec.auth,  # type: ignore[arg-type]  # checked against AUTH_MODES on load
        initiate_overrides=fill_templates(spec.body, templates) if spec.body is not None else None,
        initiate_raw=spec.raw_body.encode("utf-8") if spec.raw_body is not None else None,
        metadata_overrides=fill_templates(spec.start_metadata, templates)
        if spec.start_metadata
        else None,
        sequence_start=spec.sequence_start,
        wire=spec.wire,  # type: ignore[arg-type]  # checked against WIRES on load
        stream_delay_s=spec.stream_delay_ms / 1000,
        max_call_s=spec.max_call_s,
        orphan_grace_s=spec.orphan_grace_s,
        caller_lines=scenario.caller_lines,
        transfer=spec.transfer,
        transfer_stream=spec.transfer_stream,
        play_audio_s=spec.play_audio_s,
        ring_sound=spec.ring_sound,  # type: ignore[arg-type]  # checked against RING_SOUNDS
        signing=spec.signing,
    )


def scenario_weight(s: Scenario) -> float:
    """A guess at how long a scenario takes: its caller's audio and waits, in seconds."""
    spoken = sum(len(a.samples) / 8000 for a in s.caller if a.samples is not None)
    spoken += sum(len(a.replay.caller) / 8000 for a in s.caller if a.replay is not None)
    waits = sum(3.0 for a in s.caller if a.kind == "wait_for" or a.send_after)
    return spoken + waits + (5.0 if s.caller else 0.0)


def outbound_call(scenario: Scenario) -> tuple[OutboundTrigger, CalleePlan] | None:
    """The trigger and the callee of an outbound ``scenario``; None for an inbound one."""
    spec = scenario.call.outbound
    if spec is None:
        return None
    trigger = OutboundTrigger(
        method=spec.method,
        path=spec.path,
        json=spec.json,
        create_within_s=spec.create_within_ms / 1000,
    )
    return trigger, CalleePlan(spec.answer, spec.ring_ms)
