"""Wire profiles: the frames bwsim sends in each form Bandwidth is known to use.

The forms and their sources are in docs/bandwidth.md §1.5.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import Phase, given, seed, settings

from simulator.audit.fuzzing import Targets, replay_scenario, start_frames
from simulator.call.options import CallOptions
from simulator.cli.main import _parser
from simulator.protocol.media import MediaStream, StreamConfig
from simulator.protocol.wire import (
    DEFAULT_WIRE,
    DOCUMENTED,
    OBSERVED,
    PROFILES,
    WIRES,
    WireProfile,
    wire_of,
    wire_profile,
)

CAPTURED_START: dict[str, Any] = {
    "metadata": {
        "accountId": "9900000",
        "callId": "c-2a9b40e1-7f0c-4a38-9d1e-5b2c7e8f1a23",
        "streamId": "s-5d8e1f20-3b4c-4d5e-8f60-718293a4b5c6",
        "streamName": "bot",
        "tracks": [{"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}],
    },
    "streamParams": {"internal_id": "call_ABC"},
    "eventType": "start",
}
"""The shape of the ``start`` frame of the September 2026 capture (§1.5, S28); ids made up."""


def shape(value: Any) -> Any:
    """Keys in order, nesting and types of a JSON value; fixed values of the format kept."""
    if isinstance(value, dict):
        return [
            (k, v if k in ("encoding", "sampleRate", "eventType", "name") else shape(v))
            for k, v in value.items()
        ]
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def _stream(wire: WireProfile, **kw: Any) -> MediaStream:
    config = StreamConfig(
        "9900000", "c-1", "s-1", "bot", stream_params={"internal_id": "call_ABC"}, wire=wire, **kw
    )
    return MediaStream(config)


def test_the_observed_start_frame_has_the_captured_shape() -> None:
    """Under observed, start equals the capture: keys, nesting, types, eventType last."""
    start = json.loads(_stream(OBSERVED).start_message())
    assert shape(start) == shape(CAPTURED_START)
    assert list(start) == ["metadata", "streamParams", "eventType"]
    assert list(start["metadata"]) == ["accountId", "callId", "streamId", "streamName", "tracks"]
    assert start["metadata"]["accountId"] == "9900000"


def test_observed_is_the_default_everywhere() -> None:
    """StreamConfig, CallOptions and the CLI all default to the observed form."""
    assert DEFAULT_WIRE == "observed" == WIRES[0]
    assert StreamConfig("1", "c", "s", "bot").wire is OBSERVED
    assert CallOptions().wire == "observed"
    args = _parser().parse_args(["call", "--app", "bot.app:app", "--audio", "x.wav"])
    assert args.wire == "observed"


def test_observed_media_and_stop_put_event_type_last() -> None:
    """Observed media counts strings from "1"; stop repeats the start metadata; eventType last."""
    proto = _stream(OBSERVED)
    start = json.loads(proto.start_message())
    media = [json.loads(proto.media_message(b"\xff" * 160)) for _ in range(2)]
    assert [m["sequenceNumber"] for m in media] == ["1", "2"]
    assert list(media[0]) == ["track", "sequenceNumber", "payload", "eventType"]
    stop = json.loads(proto.stop_message())
    assert list(stop) == ["metadata", "eventType"]
    assert stop["metadata"] == start["metadata"]


def test_the_documented_form_writes_audio_pcmu_and_event_type_first() -> None:
    """Under documented, the encoding is audio/PCMU and every frame starts with eventType."""
    proto = _stream(DOCUMENTED)
    start = json.loads(proto.start_message())
    assert start["metadata"]["tracks"][0]["mediaFormat"] == {
        "encoding": "audio/PCMU",
        "sampleRate": 8000,
    }
    assert list(start) == ["eventType", "metadata", "streamParams"]
    media = json.loads(proto.media_message(b"\xff" * 160))
    assert list(media) == ["eventType", "track", "sequenceNumber", "payload"]
    assert list(json.loads(proto.stop_message())) == ["eventType", "metadata"]


def test_numeric_account_sends_the_account_id_as_a_number() -> None:
    """numeric-account writes a digit accountId as a JSON number in start and stop only."""
    proto = _stream(PROFILES["numeric-account"])
    assert json.loads(proto.start_message())["metadata"]["accountId"] == 9900000
    assert json.loads(proto.stop_message())["metadata"]["accountId"] == 9900000
    assert PROFILES["numeric-account"].account("acc-7") == "acc-7"  # not digits: kept


def test_a_forged_account_id_is_sent_as_the_scenario_gave_it() -> None:
    """metadata_overrides replace the profile's accountId, whatever the profile writes."""
    proto = _stream(PROFILES["numeric-account"], metadata_overrides={"accountId": "8800000"})
    assert json.loads(proto.start_message())["metadata"]["accountId"] == "8800000"


def test_an_unknown_wire_is_refused_naming_the_choices() -> None:
    """wire_profile and CallOptions refuse an unknown name, listing the profiles."""
    with pytest.raises(ValueError, match="wire must be one of observed, documented"):
        wire_profile("twilio")
    with pytest.raises(ValueError, match='got "twilio"'):
        CallOptions(wire="twilio")  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["call", "--app", "a:b", "--audio", "x.wav", "--wire", "twilio"])
    assert info.value.code == 2


@pytest.mark.parametrize("name", WIRES)
def test_each_profile_is_recognised_from_its_start_frame(name: str) -> None:
    """wire_of reads back the profile a start frame was built in."""
    start = json.loads(_stream(PROFILES[name]).start_message())
    assert wire_of(start) == name
    assert wire_of({"metadata": {}}) is None


TARGETS = Targets("c-own", "9900000", "c-victim", "9900000", "c-other", "8800000")


def test_the_start_fuzzer_draws_from_every_profile() -> None:
    """The fuzzer's start frames come in every wire profile, so one-form bots are caught."""
    seen: set[str | None] = set()

    @seed(17)
    @settings(max_examples=80, database=None, phases=[Phase.generate], deadline=None)
    @given(start_frames(TARGETS))
    def record(frame: dict[str, Any]) -> None:
        seen.add(wire_of(frame))

    record()
    assert set(WIRES) <= seen


def test_a_replayed_documented_start_keeps_its_form() -> None:
    """A failing example's start in the documented form replays with call.wire: documented."""
    start = json.loads(_stream(DOCUMENTED).start_message())
    scenario, _ = replay_scenario([start], "stop", TARGETS, name="r", description="d")
    assert scenario["call"]["wire"] == "documented"
    observed = json.loads(_stream(OBSERVED).start_message())
    scenario, _ = replay_scenario([observed], "stop", TARGETS, name="r", description="d")
    assert "wire" not in scenario.get("call", {})


@pytest.mark.parametrize("wire", WIRES)
def test_media_bytes_are_media_message_encoded_with_the_same_numbering(wire: str) -> None:
    """The driver's pre-built frame bytes equal the formatted text, frame for frame."""
    config = StreamConfig("9900000", "c-1", "s-1", "n", wire=wire_profile(wire))
    built, formatted = MediaStream(config), MediaStream(config)
    for track in ("inbound", "outbound", 'odd "track" é'):
        for ulaw in (b"\xff" * 160, bytes(range(160)), b"\x00\x7f" * 80):
            assert built.media_bytes(ulaw, track) == formatted.media_message(ulaw, track).encode()
    assert built.frames_sent == formatted.frames_sent == 9
