"""``bwsim record``: a call through the capture proxy goes through, and its archive is exact.

bwsim plays Bandwidth, the recorder (real uvicorn on loopback) stands in front of a real
bot served by the harness (``tests.bots.record_bot``, which checks Basic credentials and
logs what it gets), and the archive is compared with what bwsim sent and what the bot
got. Frame times are checked for order and containment only: how far they lag bwsim's is
measured by ``benchmarks/proxy.py``, never asserted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np

from simulator.archive import CallArchive, caller_audio, recorded_audio
from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.protocol.codec import ulaw_decode, ulaw_encode
from simulator.record import STREAM_PREFIX, Recorder, bind_socket
from simulator.runner.harness import Harness
from simulator.runner.targets import AppTarget
from tests.bots.record_bot import TONE
from tests.integration.recording import record_call

BOT = "tests.bots.record_bot:app"
VOICE = (np.sin(2 * np.pi * 440 * np.arange(4000) / 8000) * 8000).astype(np.int16)
"""Half a second of a 440 Hz tone: what the caller says."""


async def _caller(call: LiveCall) -> None:
    await call.wait_for("stream-accepted", timeout_ms=15_000)
    await call.say(VOICE, "voice")
    await call.wait_for("bot-audio-first", timeout_ms=15_000)
    call.hangup()


async def _record_call(
    tmp_path: Path, *, redact_ids: bool = False
) -> tuple[CallResult, CallArchive, Harness, Path]:
    bot_dir = tmp_path / "bot"
    async with Harness(AppTarget(BOT), bot_env={"RECORD_BOT_DIR": str(bot_dir)}) as harness:
        assert harness.bot is not None
        async with Recorder(
            harness.bot.base_url, tmp_path / "archive", redact_ids=redact_ids
        ) as recorder:
            options = CallOptions(
                webhook_username=harness.credentials.webhook_username,
                webhook_password=harness.credentials.webhook_password,
                max_call_s=30,
            )
            session = CallSession(harness.fake, recorder.url, options=options, caller=_caller)
            result = await session.run()
        (folder,) = recorder.written
    return result, CallArchive.load(folder), harness, bot_dir


async def test_a_call_through_the_recorder_goes_through_and_its_archive_is_what_bwsim_sent(
    tmp_path: Path,
) -> None:
    """The archive's webhooks, start frame and caller frames are what bwsim sent, the bot got."""
    result, archive, harness, bot_dir = await _record_call(tmp_path)
    # The call went through as without the proxy: the bot's audio reached bwsim.
    assert result.exchange is not None and result.exchange.outcome == "challenge-ok"
    assert result.recorder.first("bot-audio-first") is not None
    (stream_out,) = result.streams
    assert stream_out.status == "accepted" and stream_out.play_audio_frames == 1

    # Webhooks: the bodies the bot got, in order, as bwsim sent them (the unauthenticated
    # first try of the Basic challenge included: it reached the bot too, which refused it).
    got = [json.loads(line) for line in (bot_dir / "webhooks.jsonl").read_text().splitlines()]
    answered = [w for w in archive.webhooks if w.status == 200]
    assert [w.body for w in answered] == [g["body"] for g in got]
    assert [w.status for w in archive.webhooks][:2] == [401, 200]
    # Headers: the bot got Bandwidth's with their values, nothing added (the hop-by-hop
    # ones, Host and the length are the next hop's own).
    hop = {"host", "connection", "content-length"}
    for hook, seen in zip(answered, got, strict=True):
        stored = {k.lower(): v for k, v in hook.headers.items() if k.lower() not in hop}
        received = {k: v for k, v in seen["headers"] if k not in hop}
        assert received.pop("authorization").startswith("Basic ")
        assert stored.pop("authorization") == "Basic ***"
        assert received == stored
    initiate = archive.webhooks[1].json_body()
    assert initiate is not None and initiate["eventType"] == "initiate"
    assert initiate["callId"] == result.call_id == archive.call_id
    assert initiate["accountId"] == result.account_id
    assert initiate["applicationId"] == result.application_id
    # The answer is stored as the bot sent it; Bandwidth got the rewritten one.
    assert (
        'destination="wss://bot.bwsim.localhost/ws/media?a=1&amp;b=2"' in archive.webhooks[1].answer
    )
    assert STREAM_PREFIX in (result.exchange.bxml_text or "")

    # The start frame: byte for byte what the bot got, the metadata bwsim's.
    (stream,) = archive.streams
    assert stream.destination == "wss://bot.bwsim.localhost/ws/media?a=1&b=2"
    start_text = (bot_dir / "start.json").read_text()
    assert stream.start == json.loads(start_text)
    first_caller = next(archive.frames_of(0, "caller"))
    assert first_caller.text == start_text
    assert stream.metadata["callId"] == result.call_id
    assert stream.metadata["streamId"] == stream_out.stream_id
    assert stream.stream_params == {"who": "record-bot"}
    assert (stream.closed_by, stream.close_code) == ("caller", 1000)

    # Caller frames: as many media frames as bwsim sent, numbered 1..N, and their audio is
    # bwsim's caller track frame for frame (μ-law as sent).
    media = [f.message() for f in archive.frames_of(0, "caller") if f.event_type == "media"]
    assert len(media) == stream_out.frames_sent
    assert [int(m["sequenceNumber"]) for m in media if m] == list(range(1, len(media) + 1))
    sent = ulaw_decode(ulaw_encode(result.recorder.caller_track()))
    heard = caller_audio(archive)
    np.testing.assert_array_equal(heard[heard != 0], sent[sent != 0])
    voice = ulaw_decode(ulaw_encode(VOICE))
    assert np.count_nonzero(heard) == np.count_nonzero(voice)

    # Times: in order, inside the stream's life, and each webhook answered after it came.
    times = [f.at_ms for f in archive.frames]
    assert times == sorted(times)
    assert stream.closed_ms is not None
    assert all(stream.opened_ms <= t <= stream.closed_ms for t in times)
    assert all(w.answered_ms is not None and w.answered_ms >= w.at_ms for w in archive.webhooks)

    # The bot's playAudio is in the archive, and in call.wav's right channel.
    assert [f.event_type for f in archive.frames_of(0, "bot")] == ["playAudio"]
    audio = recorded_audio(archive)
    tone = ulaw_decode(ulaw_encode(TONE))
    assert np.count_nonzero(audio.bot) == np.count_nonzero(tone)

    # No credential in any stored file.
    password = harness.credentials.webhook_password
    user = harness.credentials.webhook_username
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert archive.webhooks[1].headers["authorization"] == "Basic ***"
    for path in archive.path.iterdir() if archive.path else ():
        data = path.read_bytes()
        assert password.encode() not in data and basic.encode() not in data, path.name


async def _stay_until_hung_up(call: LiveCall) -> None:
    await call.wait_for("stream-accepted", timeout_ms=15_000)
    await call.wait_for("call-ended", timeout_ms=25_000)


async def test_with_voice_api_the_bots_hang_up_is_in_the_archive_and_its_token_is_not(
    tmp_path: Path,
) -> None:
    """With --voice-api/--oauth-url the bot's hang-up request is in the archive; no token is."""
    env = {"RECORD_BOT_DIR": str(tmp_path / "bot"), "RECORD_BOT_HANGUP": "1"}
    recording = await record_call(
        BOT, tmp_path / "archive", _stay_until_hung_up, bot_env=env, max_call_s=30
    )
    result, folder = recording.result, recording.folder
    archive = CallArchive.load(folder)
    assert result.recorder.first("hangup-request") is not None
    assert archive.voice_api is not None
    (hangup,) = archive.voice_api
    assert hangup.method == "POST" and hangup.status == 200
    assert hangup.path == f"/accounts/{result.account_id}/calls/{result.call_id}"
    assert json.loads(hangup.body) == {"state": "completed"}
    assert 0 < hangup.at_ms <= (archive.ended_ms or 0)
    stored = _stored_text(folder)
    assert "access_token" not in stored
    assert "Bearer " not in stored.replace("Bearer ***", "")


def _stored_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.iterdir() if p.suffix != ".wav")


async def test_redact_replaces_ids_and_numbers_consistently(tmp_path: Path) -> None:
    """With --redact no real callId, accountId or number is stored, and fakes match across files."""
    result, archive, _, _ = await _record_call(tmp_path, redact_ids=True)
    assert archive.redacted
    assert archive.path is not None
    stored = b"".join(p.read_bytes() for p in archive.path.iterdir() if p.suffix != ".wav")
    initiate = archive.webhooks[1].json_body()
    assert initiate is not None
    for real in (result.call_id, result.account_id, result.streams[0].stream_id):
        assert real.encode() not in stored, real
    fake_call = initiate["callId"]
    assert fake_call != result.call_id and fake_call in archive.path.name
    assert archive.streams[0].metadata["callId"] == fake_call
    assert archive.call_id == fake_call
    assert initiate["from"].startswith("+1202555")


async def test_a_bot_that_checks_basic_credentials_accepts_good_ones_and_refuses_bad_ones(
    tmp_path: Path,
) -> None:
    """Through the recorder the bot answers good and bad credentials as it does direct."""
    async with Harness(AppTarget(BOT), bot_env={"RECORD_BOT_DIR": str(tmp_path)}) as harness:
        assert harness.bot is not None
        creds = harness.credentials
        body = json.dumps({"eventType": "initiate", "callId": "c-1234", "from": "+15550001"})
        good = (creds.webhook_username, creds.webhook_password)
        bad = (creds.webhook_username, "wrong")
        async with (
            Recorder(harness.bot.base_url, tmp_path / "archive") as recorder,
            httpx.AsyncClient(trust_env=False) as client,
        ):
            client.headers.clear()  # only the headers below, to see that none is added
            answers = {}
            for name, base in (("direct", harness.bot.base_url), ("proxied", recorder.url)):
                ok = await client.post(base + "/", content=body, auth=good)
                refused = await client.post(base + "/", content=body, auth=bad)
                none = await client.post(base + "/", content=body)
                answers[name] = (ok.status_code, refused.status_code, none.status_code)
                assert refused.headers["www-authenticate"] == 'Basic realm="bot"'
    assert answers["proxied"] == answers["direct"] == (200, 401, 401)
    direct, proxied = (_headers_seen(line) for line in _lines(tmp_path / "webhooks.jsonl"))
    assert proxied == direct


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _headers_seen(line: str) -> dict[str, str]:
    """The headers a bot's log line says it got, but Host (the bot's own address)."""
    return {k: v for k, v in json.loads(line)["headers"] if k != "host"}


async def test_a_bot_that_is_down_gets_bandwidth_a_502_and_the_archive_says_why(
    tmp_path: Path,
) -> None:
    """A refused connection to the bot is a 502 with a plain message; the recorder goes on."""
    async with (
        Recorder("http://127.0.0.1:9", tmp_path) as recorder,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        for call_id in ("c-down-1", "c-down-2"):
            body = json.dumps({"eventType": "initiate", "callId": call_id})
            answer = await client.post(recorder.url + "/", content=body)
            assert answer.status_code == 502
            assert "did not answer" in answer.text
    first, _ = sorted(recorder.written)
    hook = CallArchive.load(first).webhooks[0]
    assert hook.status is None and hook.error and "did not answer" in hook.error


def test_bwsim_record_refuses_bad_arguments_with_exit_2(tmp_path: Path) -> None:
    """A non-http(s) bot URL, an archive folder it cannot make, a port in use: exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with bind_socket("127.0.0.1", 0) as taken:
        busy = str(taken.getsockname()[1])
        for args, words in (
            (["--port", "0", "--bot", "ws://127.0.0.1:1", "--archive", str(tmp_path)], "--bot"),
            (["--port", "0", "--bot", "http://h:1", "--archive", str(blocker / "x")], "--archive"),
            (["--port", busy, "--bot", "http://h:1", "--archive", str(tmp_path)], "--port"),
        ):
            done = subprocess.run(
                [sys.executable, "-m", "simulator.cli.main", "record", *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 2, done.stderr
            assert words in done.stderr and "Traceback" not in done.stderr


async def test_bwsim_record_prints_where_it_listens_and_writes_on_ctrl_c(tmp_path: Path) -> None:
    """The CLI prints its URL, forwards a webhook, and on SIGINT writes the call and exits 0."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator.cli.main",
        "record",
        "--port",
        "0",
        "--bot",
        "http://127.0.0.1:9",
        "--archive",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("bwsim record: listening on http://127.0.0.1:")
        url = line.split()[4].rstrip(",")
        async with httpx.AsyncClient(trust_env=False) as client:
            body = json.dumps({"eventType": "initiate", "callId": "c-cli"})
            assert (await client.post(url + "/", content=body)).status_code == 502
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert "c-cli" in out.decode()
    assert _only_archive(tmp_path).call_id == "c-cli"


def _only_archive(directory: Path) -> CallArchive:
    (folder,) = directory.iterdir()
    return CallArchive.load(folder)
