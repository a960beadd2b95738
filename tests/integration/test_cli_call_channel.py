"""``bwsim call --channel``: one channel of a stereo file is what the caller sends."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.integration.cli import bwsim

BOT = "tests.bots.media_bot:app"
LEFT_HZ, RIGHT_HZ = 440, 1000


def _tones(path: Path) -> Path:
    """A 1 s stereo WAV at 16 kHz: a 440 Hz tone on the left, a 1 kHz tone on the right."""
    rate = 16000
    t = np.arange(rate) / rate
    both = np.stack([np.sin(2 * np.pi * LEFT_HZ * t), np.sin(2 * np.pi * RIGHT_HZ * t)], axis=1)
    sf.write(path, 0.3 * both, rate, subtype="PCM_16")
    return path


def test_call_with_channel_left_sends_only_the_left_channel(tmp_path: Path) -> None:
    """The caller leg of call.wav holds the 440 Hz tone and none of the right's 1 kHz."""
    out = tmp_path / "out"
    env = {**os.environ, "MEDIA_BOT_DIR": str(tmp_path)}
    args = ["--app", BOT, "--pass-env", "MEDIA_BOT_DIR", "--linger-ms", "300", "--out", str(out)]
    done = bwsim(
        "call", *args, "--audio", str(_tones(tmp_path / "two.wav")), "--channel", "left", env=env
    )
    assert done.returncode == 0, done.stderr
    recording, rate = sf.read(out / "call.wav", dtype="float64")
    assert rate == 8000
    caller = recording[:, 0]  # call.wav: the caller left, the bot right
    magnitude = np.abs(np.fft.rfft(caller * np.hanning(len(caller))))
    freqs = np.fft.rfftfreq(len(caller), 1 / rate)

    def level(hz: float) -> float:
        """The strongest magnitude within 5 Hz of ``hz``."""
        return float(magnitude[np.abs(freqs - hz) <= 5].max())

    assert abs(freqs[magnitude.argmax()] - LEFT_HZ) <= 2
    # μ-law noise is spread over every bin; the right channel's tone would stand at the
    # left's own level, as it did when files were mixed to mono.
    assert level(RIGHT_HZ) < 0.01 * level(LEFT_HZ), "the right channel reached the caller's leg"


def test_call_of_a_stereo_file_without_channel_exits_2_before_any_call(tmp_path: Path) -> None:
    """No --channel: exit 2 naming the file and the fix, and no bot started, nothing written."""
    out = tmp_path / "out"
    stereo = _tones(tmp_path / "two.wav")
    done = bwsim("call", "--app", BOT, "--audio", str(stereo), "--out", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(stereo) in done.stderr
    assert "stereo (2 channels)" in done.stderr
    assert "--channel left" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()  # the call was never placed: no artifacts, no bot log


def test_call_with_a_bad_channel_exits_2_with_the_accepted_forms(tmp_path: Path) -> None:
    """--channel centre is a usage error (exit 2) saying what a channel is."""
    stereo = _tones(tmp_path / "two.wav")
    done = bwsim("call", "--app", BOT, "--audio", str(stereo), "--channel", "centre")
    assert done.returncode == 2
    assert "argument --channel: a channel is left, right or a 0-based channel number" in (
        done.stderr
    )
