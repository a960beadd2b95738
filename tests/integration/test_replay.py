"""``bwsim replay`` against the bot a call was recorded with, and bots broken one way each.

The comparison names what changed and sets the exit code.

The archive is recorded offline, as a team records a call in staging: bwsim plays
Bandwidth, ``bwsim record``'s capture proxy stands in front of the reference bot and of
the fake Voice API, and the caller talks over the greeting and says goodbye (the bot
clears, says farewell and hangs up through the Voice API, as it does direct: the first
test). Every replay below reads the archive the recorder wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from simulator import LiveCall
from simulator.archive import recorded_audio
from simulator.archive.model import CallArchive
from simulator.call.audio_files import load_caller_audio
from simulator.call.live import CallEnded
from simulator.replay.facts import facts_from_archive
from simulator.replay.plan import plan_replay
from simulator.replay.scenario_text import scenario_text
from simulator.suite import AUDIO_DIR
from tests.integration.bot_under_test import short_script
from tests.integration.cli import bwsim
from tests.integration.recording import Recording, record_call
from tests.replay_archives import build_archive, silence, tone

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
LINE = "Thank you, goodbye."
GREETING = "Hello, and thank you for calling. How can I help you today?"


@dataclass
class Recorded:
    """The recorded call: its archive, the bot script, and the call as bwsim saw it."""

    archive: Path
    script: Path
    recording: Recording


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One call to the reference bot: barge-in over the greeting, goodbye, the bot hangs up."""
    folder = tmp_path_factory.mktemp("recorded")
    script = short_script(folder, LINE, greeting=GREETING)
    voice = load_caller_audio(AUDIO_DIR / "goodbye.wav")

    async def caller(call: LiveCall) -> None:
        await call.wait_for("bot_speech_start", timeout_ms=15_000)
        await call.pause(800)  # well into the greeting: a barge-in
        await call.say(voice, "goodbye")
        try:
            await call.pause(20_000)  # until the bot hangs up
        except CallEnded:
            return

    async def record() -> Recording:
        return await record_call(
            "bot.app:app",
            folder / "archive",
            caller,
            bot_env={"BOT_SCRIPT": str(script)},
            caller_lines=[LINE],
            max_call_s=40,
        )

    recording = asyncio.run(record())
    return Recorded(recording.folder, script, recording)


def test_the_reference_bot_behind_the_recorder_clears_and_hangs_up_as_direct(
    recorded: Recorded,
) -> None:
    """Through the recorder the bot still clears and hangs up; the archive holds both."""
    result, hangups = recorded.recording.result, recorded.recording.hangup_statuses
    # As direct (test_bot_call.py): the greeting cleared, the farewell, the bot's hang-up.
    assert result.errors == []
    assert result.violations == []
    clears = result.events("clear")
    assert clears and clears[0].detail["bot_was_speaking"] is True
    # At least the greeting and the farewell: a starved bot's 500 ms pause splits a spell.
    assert len(result.events("bot-speech-start")) >= 2
    assert (result.phase, result.disconnect_cause) == ("disconnected", "hangup")
    assert hangups[0] == 200

    archive = CallArchive.load(recorded.archive)
    bot_events = [f.event_type for f in archive.frames_of(0, "bot")]
    assert bot_events.count("clear") == len(clears)
    assert archive.voice_api is not None
    # The hang-up requests the fake Voice API got came through the recorder and are kept,
    # in order (the bot may try again once the call is gone, answered 404, perhaps after
    # the recorder stopped).
    completed = [a for a in archive.voice_api if '"completed"' in a.body]
    assert completed and completed[0].status == 200
    assert [a.status for a in completed] == hangups[: len(completed)]
    audio = recorded_audio(archive)
    assert audio.clears_ms and np.count_nonzero(audio.caller) and np.count_nonzero(audio.bot)


def _replay(recorded: Recorded, app: str, *args: str, out: Path) -> tuple[int, str, dict[str, Any]]:
    env = {**os.environ, "BOT_SCRIPT": str(recorded.script)}
    done = bwsim(
        "replay",
        str(recorded.archive),
        "--app",
        app,
        "--pass-env",
        "BOT_SCRIPT",
        "--out",
        str(out),
        "--json",
        str(out / "replay.json"),
        *args,
        env=env,
    )
    data = json.loads((out / "comparison.json").read_text()) if done.returncode != 2 else {}
    return done.returncode, done.stdout + done.stderr, data


def test_replay_against_the_same_bot_exits_0_with_the_same_events(
    recorded: Recorded, tmp_path: Path
) -> None:
    """Turn by turn against the bot that was recorded: same clear and hang-up, exit 0."""
    code, output, data = _replay(recorded, "bot.app:app", "--timing", "turns", out=tmp_path)
    assert code == 0, output
    events = {e["event"]: (e["then"], e["now"]) for e in data["events"]}
    assert events["barge-ins cleared"] == ("1 of 1", "1 of 1")
    assert events["bot hangs up"] == ("yes", "yes")
    assert [d for d in data["differences"] if d["required"]] == []
    assert data["ids"]["callId"]["then"] != data["ids"]["callId"]["now"]
    assert "result: nothing required changed (exit 0)" in output
    both = json.loads((tmp_path / "replay.json").read_text())
    assert both["call"]["schema"] == 1 and both["comparison"]["ok"] is True


def test_replay_against_a_bot_that_never_clears_names_the_missing_clear(
    recorded: Recorded, tmp_path: Path
) -> None:
    """At the recorded times against a bot with no clear on barge-in: exit 1, clear named."""
    code, output, data = _replay(
        recorded, "tests.bots.flawed:no_clear", "--timing", "recorded", out=tmp_path
    )
    assert code == 1, output
    required = [d["what"] for d in data["differences"] if d["required"]]
    assert "clear" in required
    assert "CHANGED clear: the bot sent 1 clear frame(s) then and none now" in output


def test_replay_against_a_bot_that_never_hangs_up_names_the_missing_hang_up(
    recorded: Recorded, tmp_path: Path
) -> None:
    """Turn by turn against a bot that says goodbye but never hangs up: exit 1, hang-up named."""
    code, output, data = _replay(
        recorded, "tests.bots.flawed:no_end_call", "--timing", "turns", out=tmp_path
    )
    assert code == 1, output
    required = [d["what"] for d in data["differences"] if d["required"]]
    assert "hang-up" in required
    assert "clear" not in required  # it still stops its audio on barge-in
    assert "CHANGED hang-up: the bot hung up then" in output


def test_the_scenario_written_from_an_archive_passes_against_its_bot(
    recorded: Recorded, tmp_path: Path
) -> None:
    """The scenario --write-scenario writes (a replay: step, the recorded events) passes."""
    archive = CallArchive.load(recorded.archive)
    file = tmp_path / "incident.yaml"
    text = scenario_text(
        archive, plan_replay(archive, timing="turns"), facts_from_archive(archive), file
    )
    data = yaml.safe_load(text)
    (scenario,) = data["scenarios"]
    assert {"clear": {"min_count": 1}} in scenario["expect"]
    assert {"hangup_request": {"status": 200}} in scenario["expect"]
    scenario["bot_env"] = {"BOT_SCRIPT": str(recorded.script)}
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    done = bwsim("run", str(file), "--app", "bot.app:app", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (result,) = report["scenarios"]
    assert result["status"] == "passed", result


PLUGIN_SUITE = """
import os
import pytest

@pytest.fixture(scope="session")
def bwsim_bot_env():
    return {{"BOT_SCRIPT": {script!r}}}

async def test_last_nights_incident(bwsim):
    replay = await bwsim.replay({archive!r}, timing="turns", max_call_s=40)
    assert replay.ok, replay.comparison.text()
    assert replay.result.events("hangup-request")
"""


def test_the_pytest_plugin_replays_an_archive_as_a_test(
    recorded: Recorded, pytester: pytest.Pytester
) -> None:
    """bwsim.replay(ARCHIVE) in a user's test: the recorded call passes against its bot."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest(
        "import pytest\nfrom pathlib import Path\nfrom simulator import AppTarget\n\n"
        '@pytest.fixture(scope="session")\ndef bwsim_target():\n'
        f"    return AppTarget('bot.app:app', cwd=Path({str(ROOT)!r}))\n"
    )
    pytester.makepyfile(
        test_incident=PLUGIN_SUITE.format(
            script=str(recorded.script), archive=str(recorded.archive)
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=280)
    result.assert_outcomes(passed=1)


def test_a_reply_that_never_comes_is_noted_and_the_unanswered_turn_fails(
    tmp_path: Path,
) -> None:
    """Turn by turn against a bot that never answers: the wait times out, is noted, exit 1."""
    hello = load_caller_audio(AUDIO_DIR / "hello.wav")
    question = load_caller_audio(AUDIO_DIR / "question.wav")
    gap = silence(1500)
    caller = np.concatenate([silence(2000), hello, gap, question, silence(1500)])
    turn_1_end = 2000 + len(hello) / 8
    archive = build_archive(
        caller,
        [(200.0, tone(1500, 300)), (turn_1_end + 400, tone(900, 300))],
        voice_api=[],
    )
    archive.save(tmp_path / "call")
    done = bwsim(
        "replay",
        str(tmp_path / "call"),
        "--app",
        "tests.bots.flawed:deaf",
        "--timing",
        "turns",
        "--reply-timeout-ms",
        "2000",
        "--out",
        str(tmp_path / "out"),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "turn 2: the bot did not answer turn 1 within 2000 ms" in output
    assert "CHANGED turn 1: the bot answered it then" in output
