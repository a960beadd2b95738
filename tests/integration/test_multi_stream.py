"""Several streams on one call against a real bot: a copy of the caller each, the rules.

The bot (``tests/bots/multi_stream_bot.py``) runs under a real uvicorn on loopback and
answers with four ``<StartStream>``s, a duplicate name, a fifth stream and a
``<StopStream>`` (see its docstring); bwsim dials each stream with the ``websockets``
client as Bandwidth would (docs/bandwidth.md §1.9).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.recorder import TimelineEvent
from simulator.call.result import CallResult
from simulator.protocol.codec import ulaw_encode
from simulator.protocol.webhook_validation import validate_body
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import multi_stream_bot as bot

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")

UTTERANCE = (np.random.default_rng(16).uniform(-8000, 8000, 8000 * 6 // 10)).astype(np.int16)
"""0.6 s of the caller: noise, so that every one of its 30 frames differs from the others."""
OPEN = ("one", "two", "monitor")
"""The streams that stay open until the caller hangs up."""


@pytest.fixture
async def call() -> AsyncIterator[CallResult]:
    """One call to the multi-stream bot: the caller speaks, hears the tone, hangs up."""
    bot.reset()

    def accepted(name: str) -> Any:
        return lambda e: e.detail.get("stream") == name

    async def caller(live: LiveCall) -> None:
        for name in OPEN:
            await live.wait_for("stream-accepted", timeout_ms=10_000, where=accepted(name))
        await live.say(UTTERANCE, "hello")
        await live.wait_for("bot_speech_end", timeout_ms=10_000)

    options = CallOptions(webhook_path="/", auth_mode="preemptive", max_call_s=30)
    async with serve(bot.app) as server, Harness(UrlTarget(server.base_url)) as harness:
        yield await harness.place_call(caller, options=options)


def media(name: str, track: str) -> bytes:
    """The μ-law bytes of every ``media`` frame of ``track`` that stream ``name`` got."""
    frames = bot.SEEN["sockets"].get(name, [])
    return b"".join(
        base64.b64decode(m["payload"])
        for m in frames
        if m["eventType"] == "media" and m["track"] == track
    )


def webhooks(event_type: str) -> dict[str, dict[str, Any]]:
    """The stream webhooks of ``event_type`` the bot got, by stream name."""
    bodies = [b for b in bot.SEEN["webhooks"] if b.get("eventType") == event_type]
    return {b["mediaStream"]["name"]: b for b in bodies}


def _spoken(events: list[TimelineEvent]) -> list[str]:
    return [e.detail["label"] for e in events if e.kind == "caller-audio-start"]


async def test_each_inbound_stream_gets_every_caller_frame(call: CallResult) -> None:
    """Two tracks="inbound" streams each receive the whole utterance, not a share of it."""
    said = ulaw_encode(UTTERANCE)
    for name in ("one", "two"):
        assert said in media(name, "inbound"), f"stream {name} missed caller frames"
    assert _spoken(call.recorder.timeline) == ["hello"]  # recorded once, not per stream


async def test_an_outbound_stream_gets_no_inbound_frames(call: CallResult) -> None:
    """A tracks="outbound" stream gets outbound frames only, none of the caller's."""
    frames = bot.SEEN["sockets"]["monitor"]
    tracks = {m["track"] for m in frames if m["eventType"] == "media"}
    assert tracks == {"outbound"}
    start = frames[0]
    assert [t["name"] for t in start["metadata"]["tracks"]] == ["outbound"]


async def test_the_outbound_track_carries_what_the_bot_said_on_another_stream(
    call: CallResult,
) -> None:
    """What the bot sends on stream one is the call's outbound track, heard by monitor."""
    assert bot.TONE_ULAW in media("monitor", "outbound")


async def test_a_duplicate_name_is_rejected_with_media_stream_rejected(call: CallResult) -> None:
    """A second stream named "two" opens no socket and gets mediaStreamRejected, duplicate."""
    assert "duplicate" not in bot.SEEN["sockets"]
    rejected = webhooks("mediaStreamRejected")
    assert "two" in rejected, "the duplicate got no mediaStreamRejected"
    body = rejected["two"]
    validate_body("mediaStreamRejected", body)
    assert body["cause"] == "duplicate"
    assert body["mediaStream"]["destination"].endswith("/ws/duplicate")
    assert body["originalMediaStream"]["name"] == "two"
    assert body["originalMediaStream"]["destination"].endswith("/ws/two")
    assert body["callId"] == call.call_id
    assert webhooks("mediaStreamStarted")["two"]["mediaStream"]["destination"].endswith("/ws/two")


async def test_a_fifth_stream_is_rejected_with_track_limit(call: CallResult) -> None:
    """With four tracks streaming, stream five opens no socket: mediaStreamRejected, track-limit."""
    assert "five" not in bot.SEEN["sockets"]
    rejected = webhooks("mediaStreamRejected")
    assert "five" in rejected, "the fifth stream got no mediaStreamRejected"
    body = rejected["five"]
    validate_body("mediaStreamRejected", body)
    assert body["cause"] == "track-limit"
    assert "originalMediaStream" not in body
    assert {s.name for s in call.streams} == {"one", "two", "monitor", "four"}
    causes = [e.detail["cause"] for e in call.recorder.timeline if e.kind == "stream-rejected"]
    assert causes == ["duplicate", "track-limit"]


async def test_stop_stream_stops_only_the_named_stream(call: CallResult) -> None:
    """<StopStream name="four"> ends stream four; the others keep receiving frames after it."""
    sockets = bot.SEEN["sockets"]
    [four_stop] = [m["order"] for m in sockets["four"] if m["eventType"] == "stop"]
    for name in OPEN:
        orders = [m["order"] for m in sockets[name] if m["eventType"] == "media"]
        last_media = max(orders, default=-1)
        assert last_media > four_stop, f"stream {name} stopped with four"
    stopped = webhooks("mediaStreamStopped")
    assert {"one", "two", "monitor", "four"} <= set(stopped)
    four = next(e for e in call.recorder.timeline if e.kind == "stop-sent")
    assert four.detail["stream"] == "four"  # the first stop went to four alone
