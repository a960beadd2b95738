"""The Sans-I/O media protocol, codec, playout queue and BXML plan: pure logic, no sockets."""

from __future__ import annotations

import base64
import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.protocol.bxml import parse_bxml
from simulator.protocol.codec import (
    _ENCODE,
    ContentTypeError,
    parse_content_type,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from simulator.protocol.media import (
    CallerSource,
    Clear,
    FrameViolation,
    MediaStream,
    PlayAudio,
    Playout,
    StreamConfig,
    media_event,
)
from simulator.protocol.verbs import (
    Gather,
    Pause,
    Redirect,
    StartStream,
    StopStream,
    Unsimulated,
    plan,
)
from simulator.protocol.wire import PROFILES, WireProfile

PCM24 = "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"


def _stream(**kw: object) -> MediaStream:
    config = StreamConfig(
        account_id="9900000",
        call_id="c-1",
        stream_id="s-1",
        stream_name="bot",
        **kw,  # type: ignore[arg-type]
    )
    return MediaStream(config)


def _play(payload: bytes, content_type: str = "audio/pcmu") -> str:
    media = {"contentType": content_type, "payload": base64.b64encode(payload).decode()}
    return json.dumps({"eventType": "playAudio", "media": media})


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=400))
def test_ulaw_round_trip_error_is_within_the_segment_step(values: list[int]) -> None:
    """Encoding then decoding loses at most half a μ-law step (≤ 1/32 of the magnitude + 8)."""
    samples = np.array(values, dtype=np.int16)
    decoded = ulaw_decode(ulaw_encode(samples)).astype(np.int32)
    error = np.abs(decoded - samples.astype(np.int32))
    assert np.all(error <= np.abs(samples.astype(np.int32)) // 16 + 132)


def test_ulaw_decode_of_every_code_is_idempotent() -> None:
    """Every μ-law code decodes to a value that encodes back to the same code (but -0)."""
    codes = bytes(range(256))
    again = ulaw_encode(ulaw_decode(codes))
    assert [a for a, b in zip(codes, again, strict=True) if a != b] == [0x7F]


def test_resample_keeps_duration_and_pitch() -> None:
    """24 kHz audio resampled to 8 kHz lasts as long and keeps its tone."""
    t = np.arange(24000) / 24000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    out = resample(tone, 24000, 8000)
    assert len(out) == 8000
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    assert np.argmax(spectrum) == 440


@pytest.mark.parametrize(
    ("value", "rate"),
    [("audio/pcmu", 8000), (PCM24, 24000), (PCM24.replace("24000", "16000"), 16000)],
)
def test_content_types_pipecat_bandwidth_sends_are_accepted(value: str, rate: int) -> None:
    """The content types of pipecat-bandwidth parse to their rate."""
    assert parse_content_type(value).rate == rate


@pytest.mark.parametrize(
    "value",
    ["audio/mp3", PCM24.replace("24000", "44100"), "audio/pcm;rate=24000",
     PCM24.replace("24000", "x"), None, "audio/pcmu;rate=8000"],
)  # fmt: skip
def test_other_content_types_are_refused(value: object) -> None:
    """Anything else is refused with the full accepted form in the message."""
    with pytest.raises(ContentTypeError):
        parse_content_type(value)


def test_ulaw_encode_matches_the_table_for_every_sample() -> None:
    """The fast encoder gives the table's code for every int16 value (and other dtypes)."""
    every = np.arange(-32768, 32768, dtype=np.int16)
    assert ulaw_encode(every) == ulaw_encode(every.astype(np.int32))
    assert ulaw_encode(every) == bytes(_ENCODE[np.arange(65536)].tobytes())


@given(
    st.binary(min_size=160, max_size=160),
    st.sampled_from(["inbound", "outbound"]),
    st.sampled_from(list(PROFILES.values())),
)
def test_media_frames_are_byte_for_byte_json_dumps(
    payload: bytes, track: str, wire: WireProfile
) -> None:
    """The hand-formatted media frame is exactly json.dumps of the same object, per profile."""
    proto = _stream(wire=wire)
    for frame in (payload, b"\xff" * 160):
        text = proto.media_message(frame, track)
        number = json.loads(text)["sequenceNumber"]
        fields = {
            "track": track,
            "sequenceNumber": number,
            "payload": base64.b64encode(frame).decode("ascii"),
        }
        ordered = (
            {**fields, "eventType": "media"}
            if wire.event_type_last
            else {
                "eventType": "media",
                **fields,
            }
        )
        assert text == json.dumps(ordered)
        assert text == json.dumps(media_event(frame, int(number), track, wire))


def test_start_stop_and_media_frames() -> None:
    """Start has metadata and params, media counts as strings, stop repeats metadata."""
    proto = _stream(stream_params={"a": "b"}, metadata_overrides={"callId": "c-forged"})
    start = json.loads(proto.start_message())
    assert start["metadata"]["callId"] == "c-forged"
    assert start["streamParams"] == {"a": "b"}
    numbers = [json.loads(proto.media_message(b"\xff" * 160))["sequenceNumber"] for _ in range(3)]
    assert numbers == ["1", "2", "3"]
    stop = json.loads(proto.stop_message())
    assert stop["metadata"]["callId"] == "c-1"  # the forgery is in start only
    assert "streamParams" not in stop


def test_play_audio_and_clear_are_decoded() -> None:
    """A playAudio decodes to 8 kHz samples; clear is an event."""
    proto = _stream()
    event = proto.receive(_play(b"\xff" * 160), 5.0)
    assert isinstance(event, PlayAudio)
    assert len(event.samples) == 160
    pcm = np.zeros(2400, dtype="<i2").tobytes()
    event24 = proto.receive(_play(pcm, PCM24), 6.0)
    assert isinstance(event24, PlayAudio)
    assert len(event24.samples) == 800
    assert isinstance(proto.receive('{"eventType": "clear"}', 7.0), Clear)


@pytest.mark.parametrize(
    ("frame", "rule"),
    [
        (b"\x00", "binary-frame"),
        ("nope", "bad-json"),
        ("[1]", "missing-event-type"),
        ('{"eventType": "media"}', "unknown-event"),
        ('{"eventType": "playAudio"}', "bad-play-audio"),
        ('{"eventType": "playAudio", "media": {"contentType": "audio/wav", "payload": ""}}',
         "bad-content-type"),
        ('{"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": "%%"}}',
         "bad-base64"),
        ('{"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": 3}}',
         "bad-base64"),
        (_play(b"abc", PCM24), "odd-pcm-length"),
    ],
)  # fmt: skip
def test_bad_frames_name_their_rule(frame: str | bytes, rule: str) -> None:
    """Every malformed frame becomes a violation naming its rule and quoting the frame."""
    event = _stream().receive(frame, 0.0)
    assert isinstance(event, FrameViolation)
    assert event.rule == rule
    assert event.frame


def test_play_audio_on_a_unidirectional_stream_is_a_violation() -> None:
    """Only a bidirectional stream may carry audio back."""
    event = _stream(bidirectional=False).receive(_play(b"\xff" * 160), 0.0)
    assert isinstance(event, FrameViolation)
    assert event.rule == "play-audio-unidirectional"


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_receive_never_raises(frame: str | bytes) -> None:
    """Whatever the bot sends, the protocol answers with an event, never an exception."""
    assert _stream().receive(frame, 0.0) is not None


def test_playout_queues_in_real_time_and_clear_drops_the_rest() -> None:
    """Audio sent early is heard back to back; clear drops exactly what was not heard yet."""
    playout = Playout()
    one_second = np.ones(8000, dtype=np.int16)
    first = playout.enqueue(one_second, at_ms=100)
    second = playout.enqueue(one_second, at_ms=150)
    assert (first.start, second.start) == (800, 8800)
    assert playout.busy(1500)
    dropped = playout.clear(at_ms=600)
    assert dropped == 8000 + 4000
    assert not playout.busy(600)
    assert playout.played_samples == 4000
    late = playout.enqueue(one_second, at_ms=700)
    assert late.start == 5600


@given(
    st.lists(
        st.tuples(st.sampled_from(["play", "clear"]), st.integers(1, 4000), st.integers(0, 500)),
        max_size=30,
    )
)
def test_playout_accounting_adds_up(actions: list[tuple[str, int, int]]) -> None:
    """Heard plus dropped always equals received, and segments never overlap."""
    playout = Playout()
    now = 0.0
    for kind, length, step in actions:
        now += step
        if kind == "play":
            playout.enqueue(np.ones(length, dtype=np.int16), now)
        else:
            playout.clear(now)
    heard = sum(len(s.samples) for s in playout.segments)
    assert heard == playout.played_samples
    assert heard + playout.dropped_samples == playout.received_samples
    ends = [(s.start, s.end) for s in playout.segments]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(ends))


def test_caller_source_speaks_then_falls_silent() -> None:
    """Queued audio comes out in 160-sample frames, then silence frames of 0xFF."""
    source = CallerSource()
    drained: list[bool] = []
    source.on_drained = lambda: drained.append(True)
    source.say(np.full(200, 1000, dtype=np.int16), "hi")
    pcm1, _, label1 = source.next_frame()
    pcm2, _, label2 = source.next_frame()
    _, ulaw3, label3 = source.next_frame()
    assert (label1, label2, label3) == ("hi", "hi", None)
    assert pcm1.tolist() == [1000] * 160
    assert pcm2[:40].tolist() == [1000] * 40 and not pcm2[40:].any()
    assert ulaw3 == b"\xff" * 160
    assert drained == [True]


def test_plan_reads_bandwidths_keepalive_patterns() -> None:
    """StartStream then Pause/StopStream(wait) plans as non-blocking stream plus a hold."""
    doc = parse_bxml(
        '<Response><StartStream name="b" mode="bidirectional" tracks="both" '
        'destination="wss://x/ws" destinationUsername="u" destinationPassword="p">'
        '<StreamParam name="k" value="v"/></StartStream>'
        '<StopStream name="b" wait="true"/><Pause duration="2.5"/></Response>',
        context="webhook",
    )
    start, stop, pause = plan(doc, "http://bot/")
    assert isinstance(start, StartStream)
    assert start.bidirectional and start.tracks == ("inbound", "outbound")
    assert start.params == {"k": "v"} and start.username == "u"
    assert stop == StopStream(stop.line, "b", wait=True)
    assert isinstance(pause, Pause) and pause.seconds == 2.5


def test_plan_stops_at_redirect_and_resolves_relative_urls() -> None:
    """Verbs after <Redirect> never run; relative URLs resolve against the serving URL."""
    doc = parse_bxml(
        '<Response><Record/><Redirect redirectUrl="/next"/><Hangup/></Response>', context="webhook"
    )
    steps = plan(doc, "http://bot:80/calls/webhook")
    assert [type(s) for s in steps] == [Unsimulated, Redirect]
    assert isinstance(steps[1], Redirect)
    assert steps[1].url == "http://bot:80/next"


def test_plan_gather_with_url_ends_the_document() -> None:
    """A <Gather gatherUrl> hands control to its webhook: later verbs are dropped."""
    doc = parse_bxml(
        '<Response><Gather gatherUrl="g" maxDigits="4"><SpeakSentence>Hi</SpeakSentence>'
        "</Gather><Hangup/></Response>",
        context="webhook",
    )
    [gather] = plan(doc, "http://bot/a/")
    assert isinstance(gather, Gather)
    assert gather.url == "http://bot/a/g" and gather.max_digits == 4
    assert [p.text for p in gather.prompts] == ["Hi"]


def _serializer_frame(content_type: str, payload: str) -> str:
    """A playAudio frame exactly as Pipecat's Bandwidth serializer writes it."""
    media = {"contentType": content_type, "payload": payload}
    return json.dumps({"eventType": "playAudio", "media": media})


@pytest.mark.parametrize(
    "frame",
    [
        _serializer_frame("audio/pcmu", base64.b64encode(bytes(range(256))).decode()),
        _serializer_frame("audio/pcmu", ""),
        _serializer_frame(
            "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed",
            base64.b64encode(b"\x01\x02" * 320).decode(),
        ),
        _serializer_frame(
            "audio/pcm;rate=8000;channels=1;bit-depth=16;endian=little;encoding=signed",
            base64.b64encode(b"\x01\x02\x03").decode(),  # odd PCM length
        ),
        _serializer_frame("audio/pcmu", "AAA"),  # bad padding
        _serializer_frame("audio/pcmu", "AA==AA=="),  # data after padding
        _serializer_frame("audio/pcmu", 'AAAA", "payload": "AAAA'),  # a second payload key
        _serializer_frame("audio/pcmu\t", "AAAA"),  # an escaped tab, not the serializer's type
        '{"eventType": "playAudio", "media": {"contentType": "audio/pcmu\t", "payload": "AAAA"}}',
        _serializer_frame("audio/mp3", "AAAA"),
        _serializer_frame("Audio/PCMU", "AAAA"),
        _serializer_frame("audio/pcmu", "AAAA") + " ",
        _serializer_frame("audio/pcmu", "AAAA").replace('"}}', '", "extra": 1}}'),
        '{"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": "AAAA"}}}',
        '{"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": "ÀAAA"}}',
    ],
)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_the_serializer_short_path_means_what_the_full_checks_mean(
    frame: str, bidirectional: bool
) -> None:
    """Pipecat's exact playAudio and near misses: the same event or violation either way."""
    config = StreamConfig("a", "c", "s", "n", bidirectional=bidirectional)
    fast, full = MediaStream(config), MediaStream(config)
    got, want = fast.receive(frame, 5.0), full._receive(frame, 5.0)
    assert type(got) is type(want)
    if isinstance(got, PlayAudio):
        assert isinstance(want, PlayAudio)
        assert (got.fmt, got.content_type, got.payload_bytes) == (
            want.fmt,
            want.content_type,
            want.payload_bytes,
        )
        assert np.array_equal(got.samples, want.samples)
    else:
        assert got == want


def test_the_serializer_s_exact_play_audio_skips_the_full_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pipecat's playAudio is read without the JSON parse (the full checks never run)."""

    def never(self: MediaStream, data: str | bytes, at_ms: float) -> None:
        raise AssertionError("the full checks ran")

    monkeypatch.setattr(MediaStream, "_receive", never)
    proto = MediaStream(StreamConfig("a", "c", "s", "n"))
    event = proto.receive(_serializer_frame("audio/pcmu", "//8A"), 1.0)
    assert isinstance(event, PlayAudio)
    assert event.samples.tolist() == ulaw_decode(b"\xff\xff\x00").tolist()
