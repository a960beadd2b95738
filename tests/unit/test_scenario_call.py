"""The call section of scenario files: outbound calls, transfers, verb sounds, bad keys named."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.judge.scenario import parse_scenarios
from simulator.judge.scenario_model import OutboundSpec, Scenario
from simulator.protocol.transfer import TransferParty
from simulator.runner.scenario_call import call_options, outbound_call


def parse(call: str) -> list[Scenario]:
    """One scenario with ``call`` (YAML flow mapping) and a single expectation."""
    expect = "    expect:\n      - violation: {absent: true}\n"
    text = f"scenarios:\n  - name: s\n    call: {call}\n" + expect
    return parse_scenarios(text, Path("out.yaml"))


def error(call: str) -> str:
    """The message a scenario with ``call`` is refused with."""
    with pytest.raises(ScenarioError) as info:
        parse(call)
    return str(info.value)


def test_an_outbound_call_is_read_with_its_trigger_and_callee() -> None:
    """direction, trigger, answer and ring_ms become an OutboundSpec and a trigger and plan."""
    [s] = parse(
        '{direction: outbound, trigger: {method: post, path: /dial, json: {to: "+1555"},'
        " create_within_ms: 2500}, answer: busy, ring_ms: 300}"
    )
    assert s.call.outbound == OutboundSpec("POST", "/dial", {"to": "+1555"}, 2500.0, "busy", 300.0)
    made = outbound_call(s)
    assert made is not None
    trigger, plan = made
    assert (trigger.method, trigger.path, trigger.create_within_s) == ("POST", "/dial", 2.5)
    assert (plan.answer, plan.ring_ms) == ("busy", 300.0)


def test_an_inbound_call_has_no_outbound_part() -> None:
    """Without direction (or with inbound) the call is inbound, as before."""
    [s] = parse("{direction: inbound}")
    assert s.call.outbound is None
    assert outbound_call(s) is None


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ("{direction: sideways}", "call.direction must be one of"),
        ("{direction: outbound}", "an outbound call needs call.trigger"),
        ("{direction: outbound, trigger: {path: dial}}", "call.trigger.path must start with '/'"),
        ("{direction: outbound, trigger: {method: FETCH}}", "call.trigger.method must be one of"),
        ("{direction: outbound, trigger: {pth: /dial}}", "unknown key 'pth' in call.trigger"),
        ("{direction: outbound, trigger: {}, answer: voicemail}", "call.answer must be one of"),
        ("{direction: outbound, trigger: {}, ring_ms: -5}", "call.ring_ms must be a number"),
        (
            "{direction: outbound, trigger: {create_within_ms: 0}}",
            "call.trigger.create_within_ms must be a number",
        ),
        ("{answer: busy}", "call.answer is for outbound calls"),
        ("{direction: outbound, trigger: {}, webhook_path: /x}", "call.webhook_path is about"),
    ],
)
def test_a_bad_outbound_key_is_named(call: str, named: str) -> None:
    """Each bad outbound value is refused with a message naming the key."""
    message = error(call)
    assert named in message
    assert "out.yaml:" in message


def test_call_transfer_sets_what_the_transfer_targets_do() -> None:
    """call.transfer becomes the call's TransferParty and stream account; absent, the defaults."""
    [s] = parse("{transfer: {answer: busy, ring_ms: 200, talk_ms: 900, stream: stays}}")
    assert s.call.transfer == TransferParty("busy", 200.0, 900.0)
    assert s.call.transfer_stream == "stays"
    options = call_options(s, {})
    assert (options.transfer, options.transfer_stream) == (s.call.transfer, "stays")
    [plain] = parse("{}")
    assert (plain.call.transfer, plain.call.transfer_stream) == (TransferParty(), "ends")


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ("{transfer: busy}", "call.transfer must be a mapping"),
        ("{transfer: {answer: voicemail}}", "call.transfer.answer must be one of"),
        ("{transfer: {stream: kept}}", "call.transfer.stream must be one of"),
        ("{transfer: {talk_ms: -1}}", "call.transfer.talk_ms must be a number"),
        ("{transfer: {ring: 5}}", "unknown key 'ring' in call.transfer"),
    ],
)
def test_a_bad_transfer_key_is_named(call: str, named: str) -> None:
    """Each bad call.transfer value is refused with a message naming the key."""
    assert named in error(call)


def test_call_sets_the_play_audio_fallback_and_the_ring_sound() -> None:
    """call.play_audio_s and call.ring_sound reach CallOptions; a bad ring_sound is named."""
    [s] = parse("{play_audio_s: 0.5, ring_sound: silence}")
    options = call_options(s, {})
    assert (options.play_audio_s, options.ring_sound) == (0.5, "silence")
    assert "call.ring_sound must be one of" in error("{ring_sound: bells}")


def test_call_wire_chooses_the_frame_form_and_a_bad_one_is_named() -> None:
    """call.wire reaches CallOptions (observed when absent); a bad value names call.wire."""
    [s] = parse("{wire: documented}")
    assert call_options(s, {}).wire == "documented"
    [plain] = parse("{}")
    assert call_options(plain, {}).wire == "observed"
    message = error("{wire: twilio}")
    assert "call.wire must be one of ['observed', 'documented', 'numeric-account']" in message
    assert "out.yaml:3" in message
