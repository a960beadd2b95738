"""Event names in the Python API: the scenario files' spelling, and no silent time-out on a typo."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from simulator.call.live import EVENT_NAMES, LiveCall, timeline_kind
from simulator.judge.scenario_model import EVENTS


class _Session:
    """Just enough of a call for LiveCall.wait_for: it records the kinds waited for."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    async def wait_for(self, kind: str, **options: Any) -> Any:
        self.kinds.append(kind)
        return kind


def test_scenario_spelling_and_timeline_spelling_both_wait_for_the_same_kind() -> None:
    """call.wait_for("bot_speech_start") and ("bot-speech-start") wait for the same event."""
    session = _Session()
    call = LiveCall(session)  # type: ignore[arg-type]
    asyncio.run(call.wait_for("bot_speech_start", timeout_ms=1))
    asyncio.run(call.wait_for("bot-speech-start", timeout_ms=1))
    assert session.kinds == ["bot-speech-start", "bot-speech-start"]


def test_every_scenario_event_name_is_a_python_event_name() -> None:
    """What a scenario file may wait for, a caller script may wait for by the same name."""
    timed = {name: kind for name, kind in EVENTS.items() if name != "call_start"}
    assert {name: timeline_kind(name) for name in timed} == timed
    assert set(timed) <= set(EVENT_NAMES)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("bot_speach_start", "bot_speech_start"), ("bot-speech-strat", "bot_speech_start")],
)
def test_an_unknown_event_is_refused_at_once_with_a_suggestion(name: str, suggestion: str) -> None:
    """A misspelt event raises before any waiting, naming the closest event and the valid ones."""
    session = _Session()
    call = LiveCall(session)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"unknown event '{name}'") as info:
        asyncio.run(call.wait_for(name, timeout_ms=60_000))
    assert f"did you mean '{suggestion}'" in str(info.value)
    assert "call_ended" in str(info.value)
    assert session.kinds == []


def test_time_zero_is_not_an_event_to_wait_for() -> None:
    """call_start, an anchor in scenario files, is refused as a wait, saying why."""
    with pytest.raises(ValueError, match="call_start is time zero"):
        timeline_kind("call_start")
