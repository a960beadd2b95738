"""``bwsim call --turns``: a long recording is said turn by turn, each after the bot's reply.

The bot is ``tests.bots.turn_bot`` (no Pipecat): it greets, and answers each caller turn
700 ms after it ends by echoing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from simulator.call.audio_files import load_caller_audio
from simulator.suite import AUDIO_DIR
from tests.integration.cli import bwsim


def _two_turns(path: Path) -> Path:
    """hello.wav, 2.5 s of silence, question.wav: one 8 kHz mono file of two caller turns."""
    gap = np.zeros(20_000, dtype=np.int16)
    hello, question = (load_caller_audio(AUDIO_DIR / f) for f in ("hello.wav", "question.wav"))
    sf.write(path, np.concatenate([hello, gap, question]), 8000, subtype="PCM_16")
    return path


def test_each_turn_of_a_long_recording_waits_for_the_bots_reply(tmp_path: Path) -> None:
    """Turn 2 starts only after the bot began answering turn 1 (not 2.5 s after it)."""
    out = tmp_path / "out"
    done = bwsim(
        "call",
        "--app",
        "tests.bots.turn_bot:app",
        "--audio",
        str(_two_turns(tmp_path / "long.wav")),
        "--turns",
        "--linger-ms",
        "1000",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    timeline = json.loads((out / "timeline.json").read_text())
    said = [(e["type"], e.get("label"), e["at_ms"]) for e in timeline]
    starts = [at for kind, label, at in said if kind == "caller-audio-start"]
    labels = [label for kind, label, _ in said if kind == "caller-audio-start"]
    assert labels == ["turn 1", "turn 2"], said
    (turn_1_end,) = [
        at for kind, label, at in said if kind == "caller-audio-end" and label == "turn 1"
    ]
    replies = [at for kind, _, at in said if kind == "bot-speech-start" and at > turn_1_end]
    assert replies and replies[0] < starts[1], f"turn 2 did not wait for the bot's reply: {said}"


def test_turns_and_dtmf_together_are_a_usage_error(tmp_path: Path) -> None:
    """--turns with --dtmf is exit 2 naming both, before any bot starts."""
    done = bwsim(
        "call", "--audio", str(_two_turns(tmp_path / "long.wav")), "--turns", "--dtmf", "1"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "give --turns or --dtmf, not both" in done.stderr
