"""Outbound calls through the pytest plugin: ``bwsim.dial()`` in a user's suite, run by pytester.

The suite runs in a subprocess (``runpytest_subprocess``), as a user's CI would, against
``tests/bots/outbound_bot.py`` started by the plugin (``AppTarget``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = f"""
import pytest
from pathlib import Path
from simulator import AppTarget

@pytest.fixture(scope="session")
def bwsim_target():
    return AppTarget("tests.bots.outbound_bot:app", cwd=Path({str(ROOT)!r}))
"""

SUITE = """
import numpy as np

NOISE = np.random.default_rng(16).uniform(-8000, 8000, 4800).astype(np.int16)

def sent(result):
    trace = result.recorder.trace
    return [(r["event_type"], r["status"]) for r in trace if r.get("kind") == "webhook"]

async def callee(call):
    await call.wait_for("stream_accepted", timeout_ms=10_000)
    await call.say(NOISE, "hello")
    await call.wait_for("bot_speech_end", timeout_ms=10_000)
    await call.pause(1000)
    await call.say(NOISE, "bye")  # the bot hangs up when the callee speaks again
    await call.pause(10_000)

async def test_dial_answered(bwsim):
    result = await bwsim.dial(callee, json={"to": "+15555550123"}, ring_ms=200, max_call_s=30)
    bwsim.expect(
        result,
        {"webhook_response": {"status": 200, "start_stream": {"mode": "bidirectional"}}},
        {"play_audio": {"after": "caller_audio_start"}},
        {"hangup_request": {"status": 200}},
        {"call_state": {"state": "disconnected", "cause": "hangup"}},
    )
    assert sent(result)[0] == ("answer", 200)
    assert sent(result)[-1] == ("disconnect", 204)

async def test_dial_busy(bwsim):
    result = await bwsim.dial(json={"to": "+15555550123"}, answer="busy", ring_ms=100)
    assert result.disconnect_cause == "busy"
    assert sent(result) == [("disconnect", 204)]
"""


def test_the_plugin_dials_out_and_plays_the_callee(pytester: pytest.Pytester) -> None:
    """bwsim.dial() drives a dial-out bot end to end, and a busy callee gets no answer."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_dial=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=280)
    result.assert_outcomes(passed=2)
