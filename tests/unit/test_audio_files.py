"""Caller audio files by channel: one channel is spoken, a file of several must say which."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simulator.audit.config import LINES, load_lines
from simulator.call.audio_files import load_caller_audio, parse_channel
from simulator.errors import AudioFileError
from simulator.protocol.codec import PHONE_RATE, Pcm
from simulator.suite import AUDIO_DIR

LEFT_HZ, RIGHT_HZ = 440, 1000


def tones(path: Path, rate: int = 16000, seconds: float = 1.0) -> Path:
    """A stereo WAV: a 440 Hz tone on the left, a 1 kHz tone on the right."""
    t = np.arange(int(rate * seconds)) / rate
    left = 0.4 * np.sin(2 * np.pi * LEFT_HZ * t)
    right = 0.4 * np.sin(2 * np.pi * RIGHT_HZ * t)
    sf.write(path, np.stack([left, right], axis=1), rate, subtype="PCM_16")
    return path


def spectrum(samples: Pcm) -> tuple[float, dict[int, float]]:
    """The loudest frequency of 8 kHz samples, and each tone's magnitude relative to it."""
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    magnitude = np.abs(np.fft.rfft(windowed))
    freqs = np.fft.rfftfreq(len(samples), 1 / PHONE_RATE)
    peak = float(magnitude.max())
    at = {hz: float(magnitude[np.argmin(np.abs(freqs - hz))]) / peak for hz in (LEFT_HZ, RIGHT_HZ)}
    return float(freqs[magnitude.argmax()]), at


@pytest.mark.parametrize(("channel", "heard", "not_heard"), [("left", 440, 1000), (1, 1000, 440)])
def test_one_channel_of_a_stereo_file_is_spoken_alone(
    tmp_path: Path, channel: str | int, heard: int, not_heard: int
) -> None:
    """Channel left (or 0) speaks only the left tone, right (or 1) only the right one."""
    samples = load_caller_audio(tones(tmp_path / "two.wav"), channel)
    peak, at = spectrum(samples)
    assert abs(peak - heard) <= 1
    assert at[not_heard] < 1e-3, f"the other channel's tone is in the caller's audio: {at}"
    assert len(samples) == PHONE_RATE  # one second, resampled to the phone's rate


def test_the_channel_is_taken_by_name_or_number(tmp_path: Path) -> None:
    """right, "1" and 1 are the same channel; left and 0 the same."""
    path = tones(tmp_path / "two.wav", rate=44100)
    assert np.array_equal(load_caller_audio(path, "right"), load_caller_audio(path, 1))
    assert np.array_equal(load_caller_audio(path, "1"), load_caller_audio(path, 1))
    assert np.array_equal(load_caller_audio(path, "LEFT"), load_caller_audio(path, 0))


def test_a_stereo_file_without_a_channel_is_refused_saying_how_to_choose(tmp_path: Path) -> None:
    """No silent mix: the error names the file, its two channels and both ways to choose."""
    path = tones(tmp_path / "two.wav")
    with pytest.raises(AudioFileError) as info:
        load_caller_audio(path)
    text = str(info.value)
    assert str(path) in text
    assert "stereo (2 channels)" in text
    assert '"channel: left" (or right, or a number 0-1)' in text
    assert "--channel left" in text


def test_a_file_of_four_channels_names_their_numbers(tmp_path: Path) -> None:
    """Beyond stereo the message counts the channels and gives the numbers to choose from."""
    path = tmp_path / "four.wav"
    sf.write(path, np.zeros((800, 4)), 8000, subtype="PCM_16")
    with pytest.raises(AudioFileError, match=r"has 4 channels: .*a number 0-3"):
        load_caller_audio(path)
    assert len(load_caller_audio(path, 3)) == 800


@pytest.mark.parametrize(
    ("channels", "channel", "words"),
    [
        (1, "right", "is mono (1 channel) and has no right (channel 1): its channels are: left"),
        (2, 5, "is stereo (2 channels) and has no channel 5: its channels are: left (channel 0), "),
    ],
)
def test_a_channel_the_file_does_not_have_names_those_it_has(
    tmp_path: Path, channels: int, channel: str | int, words: str
) -> None:
    """Channel right of a mono file, 5 of a stereo one: refused, naming those there are."""
    path = tmp_path / "f.wav"
    sf.write(path, np.zeros((800, channels)), 8000, subtype="PCM_16")
    with pytest.raises(AudioFileError) as info:
        load_caller_audio(path, channel)
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_a_mono_file_takes_no_channel_left_or_zero(tmp_path: Path) -> None:
    """A mono file is the caller's voice whichever of the three ways it is named."""
    path = tmp_path / "mono.wav"
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000), 8000)
    plain = load_caller_audio(path)
    assert np.array_equal(plain, load_caller_audio(path, "left"))
    assert np.array_equal(plain, load_caller_audio(path, 0))


@pytest.mark.parametrize("value", ["centre", "-1", -1, True, 1.0, None, ""])
def test_a_bad_channel_says_the_forms_a_channel_takes(value: object) -> None:
    """Anything but left, right or a 0-based number is refused with the accepted forms."""
    with pytest.raises(ValueError, match="left, right or a 0-based channel number"):
        parse_channel(value)


def test_a_bad_channel_is_refused_before_the_file_is_read(tmp_path: Path) -> None:
    """load_caller_audio refuses a bad channel as an AudioFileError (exit 2) naming the file."""
    path = tones(tmp_path / "two.wav")
    with pytest.raises(AudioFileError, match="got 'centre'") as info:
        load_caller_audio(path, "centre")
    assert str(path) in str(info.value)


def test_audit_caller_lines_refuse_a_stereo_file_asking_for_a_mono_one(tmp_path: Path) -> None:
    """Bwsim audit's --audio-dir has no channel option: a stereo line says to give mono."""
    folder = tmp_path / "lines"
    shutil.copytree(AUDIO_DIR, folder)
    first = next(iter(LINES.values())).file
    rate = 8000
    t = np.arange(rate) / rate
    sf.write(folder / first, 0.3 * np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1), rate)
    with pytest.raises(AudioFileError) as caught:
        load_lines(folder)
    assert "give a mono file (this one has 2 channels" in str(caught.value)
    assert "--channel left on the command line" not in str(caught.value)
