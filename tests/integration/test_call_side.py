"""The call side against a hand-written protocol bot: webhooks, BXML, the stream, the registry.

The bot (``tests/bots/raw_bot.py``) runs under a real uvicorn on loopback; bwsim dials
it with the ``websockets`` client exactly as Bandwidth would.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.protocol.webhook_validation import validate_body
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import raw_bot
from tests.integration.tone_heard import LOUD, as_heard, loud_samples, silences_ms, wait_until_heard
from tests.integration.voice_api_client import bot_api

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A fake Bandwidth with the raw protocol bot as its target."""
    for values in raw_bot.SEEN.values():
        values.clear()
    async with serve(raw_bot.app) as bot, Harness(UrlTarget(bot.base_url)) as h:
        yield h


def _opts(path: str, **kw: object) -> CallOptions:
    base: dict[str, object] = {"webhook_path": path, "auth_mode": "preemptive", "max_call_s": 20}
    base.update(kw)
    return CallOptions(**base)  # type: ignore[arg-type]


async def _stay(call: LiveCall, ms: float) -> None:
    await call.wait_for("stream-accepted", timeout_ms=5000)
    await call.pause(ms)


async def test_frames_follow_bandwidth_shape(harness: Harness) -> None:
    """Frames have Bandwidth's shape: ids, track objects, streamParams, string sequence numbers."""
    result = await harness.place_call(lambda c: _stay(c, 300), options=_opts("/listen"))
    start = raw_bot.SEEN["starts"][0]
    # The observed form (docs/bandwidth.md §1.5): eventType last ("_authorization" is the bot's).
    assert list(start) == ["metadata", "streamParams", "eventType", "_authorization"]
    assert start["eventType"] == "start"
    meta = start["metadata"]
    assert meta["callId"] == result.call_id
    assert meta["accountId"] == result.account_id
    assert meta["streamName"] == "bot"
    assert meta["tracks"] == [
        {"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}
    ]
    assert start["streamParams"] == {"k": "v"}
    first = raw_bot.SEEN["media"][0]
    assert first["track"] == "inbound"
    assert first["sequenceNumber"] == "1"
    assert len(base64.b64decode(first["payload"])) == 160
    stop = raw_bot.SEEN["stops"][0]
    assert stop["stop"]["eventType"] == "stop"
    assert "streamParams" not in stop["stop"]
    assert stop["media"] >= 5  # silence keeps flowing while the caller says nothing
    [outcome] = result.streams
    assert (outcome.closed_by, outcome.close_code) == ("simulator", 1000)
    assert result.phase == "disconnected"
    assert result.disconnect_cause == "hangup"


async def test_the_documented_wire_reaches_the_bot(harness: Harness) -> None:
    """Under wire=documented the bot gets eventType first and the encoding audio/PCMU."""
    await harness.place_call(lambda c: _stay(c, 100), options=_opts("/listen", wire="documented"))
    start = raw_bot.SEEN["starts"][0]
    assert list(start)[:2] == ["eventType", "metadata"]
    assert start["metadata"]["tracks"][0]["mediaFormat"]["encoding"] == "audio/PCMU"
    assert next(iter(raw_bot.SEEN["media"][0])) == "eventType"


async def test_destination_credentials_go_as_basic_on_the_upgrade(harness: Harness) -> None:
    """destinationUsername/Password travel as HTTP Basic on the WebSocket upgrade."""
    await harness.place_call(lambda c: _stay(c, 50), options=_opts("/listen?wsauth=1"))
    expected = "Basic " + base64.b64encode(b"ws-user:ws-pass").decode()
    assert raw_bot.SEEN["starts"][0]["_authorization"] == expected


async def test_initiate_body_parses_with_the_sdk_models(harness: Harness) -> None:
    """The initiate webhook the bot receives validates against bandwidth-sdk's model."""
    await harness.place_call(lambda c: _stay(c, 50), options=_opts("/listen"))
    body = raw_bot.SEEN["webhooks"][0]["body"]
    validate_body("initiate", body)
    assert body["eventType"] == "initiate"
    assert body["callUrl"].endswith(f"/calls/{body['callId']}")


async def test_stream_webhooks_parse_with_the_sdk_models(harness: Harness) -> None:
    """The mediaStreamStarted/Stopped webhooks go to streamEventUrl and validate."""
    await harness.place_call(lambda c: _stay(c, 200), options=_opts("/listen?events=1"))
    bodies = [w["body"] for w in raw_bot.SEEN["webhooks"] if w["path"] == "stream"]
    kinds = [b["eventType"] for b in bodies]
    assert kinds == ["mediaStreamStarted", "mediaStreamStopped"]
    for body in bodies:
        validate_body(body["eventType"], body)
    assert bodies[1]["cause"] == "closed"


async def test_disconnect_webhook_parses_with_the_sdk_models(harness: Harness) -> None:
    """The disconnect webhook goes to the status URL with cause hangup, and validates."""
    await harness.place_call(
        lambda c: _stay(c, 100), options=_opts("/listen", disconnect_path="/events/status")
    )
    [body] = [w["body"] for w in raw_bot.SEEN["webhooks"] if w["path"] == "status"]
    validate_body("disconnect", body)
    assert (body["eventType"], body["cause"]) == ("disconnect", "hangup")


async def test_start_stream_without_keepalive_hangs_up_at_once(harness: Harness) -> None:
    """A document that ends after <StartStream> hangs up; the stream gets stop and closes."""
    # The caller would stay 5 s: only the document running out can end the call first.
    result = await harness.place_call(
        lambda c: _stay(c, 5000), options=_opts("/listen?keepalive=none")
    )
    ended = result.events("call-ended")[0]
    assert result.events("stream-accepted")
    assert ended.detail["cause"] == "hangup"
    notes = [e.detail["detail"] for e in result.events("note")]
    assert "BXML ran out: implicit hang-up" in notes
    assert "caller hangs up" not in notes
    assert raw_bot.SEEN["stops"][0]["stop"] is not None
    assert result.streams[0].closed_by == "simulator"


async def test_stopstream_wait_holds_until_bot_closes_then_hangs_up(harness: Harness) -> None:
    """<StopStream wait> resumes when the bot closes; the document then runs out: hang-up."""
    result = await harness.place_call(
        lambda c: _stay(c, 5000), options=_opts("/close-early?keepalive=stopstream")
    )
    assert result.streams[0].closed_by == "bot"
    assert result.disconnect_cause == "hangup"
    assert not [v for v in result.violations if v.kind == "orphaned-leg"]


async def test_bot_closing_under_pause_is_an_orphaned_leg(harness: Harness) -> None:
    """The bot closes its stream while <Pause> holds the call and never hangs up: reported."""
    result = await harness.place_call(
        lambda c: _stay(c, 5000), options=_opts("/close-early", orphan_grace_s=0.3)
    )
    kinds = [v.kind for v in result.violations]
    assert kinds == ["orphaned-leg"]
    assert result.streams[0].closed_by == "bot"
    harness.fake.journal.violations.clear()


async def test_hanging_up_after_the_stream_drops_is_not_an_orphan(harness: Harness) -> None:
    """The same early close, followed by an API hang-up within the grace: nothing reported."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("ws-closed", timeout_ms=5000)
        client, auth = await bot_api(harness)
        async with client:
            path = f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}"
            await client.post(path, json={"state": "completed"}, headers=auth)
        await call.pause(5000)

    result = await harness.place_call(caller, options=_opts("/close-early", orphan_grace_s=2))
    assert result.violations == []
    assert result.events("hangup-request")


async def test_clear_drops_audio_not_yet_played(harness: Harness) -> None:
    """2 s of audio followed at once by clear: what was not played yet is dropped, and recorded."""
    result = await harness.place_call(lambda c: _stay(c, 400), options=_opts("/burst-clear"))
    [clear] = result.events("clear")
    stream = result.streams[0]
    assert clear.detail["dropped_ms"] > 0
    assert stream.dropped_ms == pytest.approx(clear.detail["dropped_ms"], abs=0.1)
    # However late the clear came, every millisecond was either heard or dropped.
    assert stream.bot_audio_ms + stream.dropped_ms == pytest.approx(2000, abs=20)


async def test_bot_audio_is_played_in_real_time_and_recorded(
    harness: Harness, tmp_path: Path
) -> None:
    """A second of tone sent faster than real time lasts a second in the bot channel."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        await wait_until_heard(call, raw_bot.tone(1.0))

    result = await harness.place_call(caller, options=_opts("/tone"))
    first = result.events("bot-audio-first")[0]
    end = result.events("bot-speech-end")[-1]
    # Its 50 frames go out back to back, but a process paused between two of them (a busy
    # machine) lets the queue run dry: the caller hears a stutter, which bwsim records.
    # What must hold however late a frame came: a second of audio, and the silences.
    gaps = silences_ms(result)
    assert end.at_ms - first.at_ms - gaps == pytest.approx(1000, abs=1)
    paths = result.write(tmp_path)
    import soundfile as sf

    audio, rate = sf.read(paths["wav"], dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    bot = audio[:, 1].astype(np.float64)
    loud = np.flatnonzero(np.abs(bot) > LOUD)
    assert loud[0] / 8 == pytest.approx(first.at_ms, abs=2)
    assert len(loud) == loud_samples(as_heard(raw_bot.tone(1.0)))  # all of it, once
    assert (loud[-1] - loud[0]) / 8 - gaps == pytest.approx(1000, abs=3)


async def test_pcm24_is_decoded_and_resampled(harness: Harness) -> None:
    """A playAudio in PCM 24 kHz is accepted and lasts as long as it should."""
    result = await harness.place_call(lambda c: _stay(c, 900), options=_opts("/pcm24"))
    stream = result.streams[0]
    assert stream.content_types == [
        "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"
    ]
    assert stream.bot_audio_ms == pytest.approx(500, abs=1)
    assert result.violations == []


async def test_protocol_violations_name_rule_and_frame(harness: Harness) -> None:
    """Each malformed frame is reported with its rule and the offending frame."""
    result = await harness.place_call(lambda c: _stay(c, 400), options=_opts("/garbage"))
    rules = [v.rule for v in result.violations]
    assert rules == [
        "binary-frame",
        "bad-json",
        "unknown-event",
        "bad-content-type",
        "bad-base64",
        "odd-pcm-length",
    ]
    assert result.violations[2].evidence["frame"] == '{"eventType": "mark"}'
    harness.fake.journal.violations.clear()


async def test_play_audio_on_unidirectional_stream_is_a_violation(harness: Harness) -> None:
    """A bot that plays audio on a unidirectional stream is reported."""
    result = await harness.place_call(
        lambda c: _stay(c, 300), options=_opts("/tone?mode=unidirectional")
    )
    assert {v.rule for v in result.violations} == {"play-audio-unidirectional"}
    harness.fake.journal.violations.clear()


async def test_refused_stream_is_recorded_with_its_status(harness: Harness) -> None:
    """A close-before-accept reaches bwsim as HTTP 403 on the upgrade and is a refusal."""
    result = await harness.place_call(lambda c: c.pause(300), options=_opts("/refuse"))
    [stream] = result.streams
    assert (stream.status, stream.http_status) == ("refused", 403)
    assert result.events("stream-refused")


async def test_invalid_bxml_ends_the_call_naming_the_line(harness: Harness) -> None:
    """Bad BXML: cause invalid-bxml, and the report gives rule and line."""
    result = await harness.place_call(options=_opts("/bad-bxml"))
    assert result.disconnect_cause == "invalid-bxml"
    [violation] = result.violations
    assert violation.rule == "attribute-type"
    assert violation.evidence["line"] == 3
    harness.fake.journal.violations.clear()


async def test_401_without_challenge_loses_the_callback(harness: Harness) -> None:
    """A 401 without WWW-Authenticate: Bandwidth does not retry; the call ends callback-error."""
    result = await harness.place_call(
        options=_opts(
            "/no-challenge", auth_mode="challenge", webhook_username="u", webhook_password="p"
        )
    )
    assert result.exchange is not None
    assert result.exchange.outcome == "lost-no-challenge"
    assert result.disconnect_cause == "callback-error"
    assert result.streams == []


async def test_api_hangup_stops_the_stream(harness: Harness) -> None:
    """POST {state: completed} through the Voice API: stop, close 1000, call disconnected."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        client, auth = await bot_api(harness)
        async with client:
            path = f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}"
            r = await client.post(path, json={"state": "completed"}, headers=auth)
            assert r.status_code == 200
        await call.pause(5000)

    result = await harness.place_call(caller, options=_opts("/listen"))
    assert result.events("hangup-request")
    assert result.streams[0].stop_sent
    assert result.streams[0].closed_by == "simulator"
    assert result.disconnect_cause == "hangup"
    assert raw_bot.SEEN["stops"][0]["stop"] is not None


async def test_transfer_through_put_bxml_closes_stream_and_later_hangup_gets_404(
    harness: Harness,
) -> None:
    """PUT /bxml with <Transfer>: stop, close; the call is transferred and a hang-up gets 404."""
    statuses: list[int] = []

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        client, auth = await bot_api(harness)
        async with client:
            path = f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}"
            xml = "<Bxml><Transfer><PhoneNumber>+15555550123</PhoneNumber></Transfer></Bxml>"
            r = await client.put(
                path + "/bxml", content=xml, headers={**auth, "Content-Type": "application/xml"}
            )
            statuses.append(r.status_code)
            await call.wait_for("ws-closed", timeout_ms=5000)
            r = await client.post(path, json={"state": "completed"}, headers=auth)
            statuses.append(r.status_code)

    result = await harness.place_call(caller, options=_opts("/listen"))
    assert statuses == [204, 404]
    assert result.phase == "transferred"
    assert result.events("transfer")[0].detail["targets"] == ["+15555550123"]
    assert result.streams[0].stop_sent


async def test_redirect_fetches_new_bxml(harness: Harness) -> None:
    """An update-call redirect interrupts <Pause>, posts the redirect webhook and runs its BXML."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        client, auth = await bot_api(harness)
        async with client:
            path = f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}"
            await client.post(
                path, json={"redirectUrl": "https://bot.example/redirected"}, headers=auth
            )
        await call.pause(5000)

    result = await harness.place_call(caller, options=_opts("/listen"))
    bodies = [w["body"] for w in raw_bot.SEEN["webhooks"] if w["path"] == "redirected"]
    assert [b["eventType"] for b in bodies] == ["redirect"]
    validate_body("redirect", bodies[0])
    assert result.disconnect_cause == "hangup"


async def test_gather_posts_the_callers_digits(harness: Harness) -> None:
    """<Gather> posts the digits from the caller script, stopping at the terminating digit."""

    async def caller(call: LiveCall) -> None:
        await call.wait_for("gather_start", timeout_ms=5000)
        await call.press("12#9")

    await harness.place_call(caller, options=_opts("/gather"))
    bodies = [w["body"] for w in raw_bot.SEEN["webhooks"] if w["path"] == "gathered"]
    assert [(b["digits"], b.get("terminatingDigit")) for b in bodies] == [("12", "#")]
    validate_body("gather", bodies[0])


async def test_caller_audio_is_sent_and_recorded_on_the_left(
    harness: Harness, tmp_path: Path
) -> None:
    """What the caller says goes out as μ-law frames and lands in the left channel."""
    voice = (np.sin(np.arange(4000) * 2 * np.pi * 300 / 8000) * 8000).astype(np.int16)

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        await call.say(voice, "hello")
        await call.pause(100)

    result = await harness.place_call(caller, options=_opts("/listen"))
    start = result.events("caller-audio-start")[0]
    end = result.events("caller-audio-end")[0]
    assert end.at_ms - start.at_ms == pytest.approx(500, abs=20)
    import soundfile as sf

    audio, _ = sf.read(result.write(tmp_path)["wav"], dtype="int16")
    left = audio[:, 0]
    loud = np.flatnonzero(np.abs(left) > 1000)
    assert loud[0] / 8 == pytest.approx(start.at_ms, abs=3)


async def test_a_call_whose_caller_timed_out_fails_the_test(harness: Harness) -> None:
    """A caller's wait that runs out fails the test (calls_that_time_out_fail), not passes it."""

    async def waits_for_a_clear(call: LiveCall) -> None:
        await call.wait_for("clear", timeout_ms=300)  # /listen never sends one

    with pytest.raises(pytest.fail.Exception, match="timed out: caller script: clear"):
        await harness.place_call(waits_for_a_clear, options=_opts("/listen"))
