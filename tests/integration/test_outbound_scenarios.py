"""Outbound calls from scenario files: bwsim starts the bot, triggers the dial, plays the callee.

The bot (``tests/bots/outbound_bot.py``) is started by bwsim (``--app``) with the
variables it gives every bot (``BANDWIDTH_ACCOUNT_ID``, ``BANDWIDTH_APPLICATION_ID``,
``BANDWIDTH_PHONE_NUMBER`` …) and reaches the fake through the request interception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.judge.scenario import load_scenarios
from simulator.runner.suite import run_suite
from simulator.runner.targets import AppTarget

SCENARIOS = """\
audio_dir: bwsim:audio
scenarios:
  - name: dial and talk
    call:
      direction: outbound
      trigger: {method: POST, path: /dial, json: {to: "+15555550123"}}
      answer: answered
      ring_ms: 200
    caller:
      - wait_for: stream_accepted
      - say: hello.wav          # the bot answers with its tone at once, over it
      - silence: 1000           # the bot hangs up when the callee speaks again after a pause
      - say: goodbye.wav
      - stay: 10000
    expect:
      - webhook_response: {status: 200, start_stream: {mode: bidirectional}}
      - stream_accepted: {}
      - play_audio: {after: stream_accepted}
      - hangup_request: {status: 200}
      - call_state: {state: disconnected, cause: hangup}
      - violation: {absent: true}
  - name: busy
    call:
      direction: outbound
      trigger: {path: /dial, json: {to: "+15555550123"}}
      answer: busy
      ring_ms: 100
    expect:
      - call_state: {state: disconnected, cause: busy}
      - stream_accepted: {absent: true}
  - name: never dials
    call:
      direction: outbound
      trigger: {path: /nodial, create_within_ms: 500}
    expect:
      - call_state: {state: disconnected}
"""


def webhooks_sent(trace: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``(eventType, status)`` of each webhook attempt in a call's trace."""
    return [(r["event_type"], r["status"]) for r in trace if r.get("kind") == "webhook"]


async def test_outbound_scenarios_run_end_to_end_from_a_file(tmp_path: Path) -> None:
    """A scenario file drives a dial-out bot: talk and hang-up, busy, and a bot that never dials."""
    path = tmp_path / "outbound.yaml"
    path.write_text(SCENARIOS, encoding="utf-8")
    suite = await run_suite(load_scenarios([path]), AppTarget("tests.bots.outbound_bot:app"))
    by_name = {r.scenario.name: r for r in suite.results}

    talk = by_name["dial and talk"]
    assert talk.status == "passed", talk.detail
    assert talk.call is not None
    sent = webhooks_sent(talk.call.recorder.trace)
    assert sent[0] == ("answer", 200)
    assert sent[-1] == ("disconnect", 204)

    busy = by_name["busy"]
    assert busy.status == "passed", busy.detail
    assert busy.call is not None
    assert webhooks_sent(busy.call.recorder.trace) == [("disconnect", 204)]

    never = by_name["never dials"]
    assert never.status == "failed"
    assert "created no outbound call within 0.5 s" in never.detail
    assert "call.trigger.create_within_ms" in never.detail
