"""Scenario files' ``say: {file, channel}``: the channel reaches the loader; mistakes are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simulator.call.audio_files import AudioSource
from simulator.errors import ScenarioError
from simulator.judge.scenario import Scenario, load_scenarios, parse_scenarios
from simulator.protocol.codec import Pcm
from simulator.suite import SCENARIOS_DIR

TEMPLATE = """\
scenarios:
  - name: replay last night
    caller:
      - say: {say}
        text: I want to cancel.
    expect: [play_audio]
"""


def parse(say: str, asked: list[AudioSource] | None = None) -> Scenario:
    """The one scenario of TEMPLATE with ``say`` filled in; the loader notes what it is asked."""

    def load(source: AudioSource, line: int | None) -> Pcm:
        if asked is not None:
            asked.append(source)
        return np.zeros(160, dtype=np.int16)

    (s,) = parse_scenarios(TEMPLATE.format(say=say), Path("/suite/s.yaml"), load_audio=load)
    return s


@pytest.mark.parametrize(("given", "index"), [("left", 0), ("right", 1), ("2", 2), ("'1'", 1)])
def test_say_takes_a_file_and_its_channel(given: str, index: int) -> None:
    """say: {file, channel} loads that channel of the file; the step keeps it for reports."""
    asked: list[AudioSource] = []
    s = parse(f"{{file: call.wav, channel: {given}}}", asked)
    assert asked == [AudioSource(Path("/suite/call.wav"), index)]
    (say,) = s.caller
    assert (say.audio, say.channel, say.text, say.line) == (
        Path("/suite/call.wav"),
        index,
        "I want to cancel.",
        4,
    )
    assert say.describe().startswith("say call.wav (")


def test_say_of_a_plain_file_asks_for_no_channel() -> None:
    """say: FILE is as before: the loader is asked for the file with no channel."""
    asked: list[AudioSource] = []
    (say,) = parse("hello.wav", asked).caller
    assert asked == [AudioSource(Path("/suite/hello.wav"), None)]
    assert (say.channel, say.describe()) == (None, "say hello.wav")


@pytest.mark.parametrize(
    ("say", "key", "words"),
    [
        ("{file: call.wav, channel: centre}", "channel", "a channel is left, right or a 0-based"),
        ("{file: call.wav, channel: -1}", "channel", "got -1"),
        ("{file: call.wav, channel: true}", "channel", "got True"),
        ("{file: call.wav, chanel: left}", "chanel", "did you mean 'channel'"),
        ("{channel: left}", None, "`file:` is missing"),
        ("{file: '', channel: left}", "file", "say.file must be a non-empty string"),
    ],
)
def test_a_bad_say_mapping_is_named_with_line_and_key(
    say: str, key: str | None, words: str
) -> None:
    """A bad channel, a typo'd key or a missing file: the file, the line and the key."""
    with pytest.raises(ScenarioError) as info:
        parse(say)
    exc = info.value
    assert (exc.path, exc.line, exc.key) == (Path("/suite/s.yaml"), 4, key)
    assert words in str(exc)


def _stereo(path: Path) -> Path:
    t = np.arange(8000) / 8000
    both = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)], axis=1)
    sf.write(path, 0.3 * both, 8000, subtype="PCM_16")
    return path


def test_a_stereo_file_without_a_channel_fails_at_load_time(tmp_path: Path) -> None:
    """Loading the file (before any call) refuses it, naming the file, the line and the fix."""
    _stereo(tmp_path / "call.wav")
    path = tmp_path / "s.yaml"
    path.write_text(TEMPLATE.format(say="call.wav"), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path])
    exc = info.value
    assert (exc.path, exc.line, exc.key) == (path, 4, "say")
    assert str(exc).startswith(f"{path}:4")
    assert "stereo (2 channels)" in str(exc)
    assert "channel: left" in str(exc)
    assert str(tmp_path / "call.wav") in str(exc)


def test_a_stereo_file_with_a_channel_loads_that_channel(tmp_path: Path) -> None:
    """The same file with channel: right loads, and the step's samples are the right tone."""
    _stereo(tmp_path / "call.wav")
    path = tmp_path / "s.yaml"
    path.write_text(TEMPLATE.format(say="{file: call.wav, channel: right}"), encoding="utf-8")
    (s,) = load_scenarios([path])
    samples = s.caller[0].samples
    assert samples is not None
    magnitude = np.abs(np.fft.rfft(samples.astype(np.float64)))
    assert int(np.argmax(magnitude)) == 1000  # 1 Hz bins: 8000 samples at 8 kHz


def test_a_channel_the_file_lacks_is_named_at_its_line(tmp_path: Path) -> None:
    """channel: 3 of a stereo file is refused at load time, naming the channels it has."""
    _stereo(tmp_path / "call.wav")
    path = tmp_path / "s.yaml"
    path.write_text(TEMPLATE.format(say="{file: call.wav, channel: 3}"), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path])
    assert (info.value.line, info.value.key) == (4, "say")
    assert "has no channel 3: its channels are: left (channel 0), right (channel 1)" in str(
        info.value
    )


def test_the_bundled_stereo_replay_speaks_its_left_channel() -> None:
    """The packaged stereo_44k.wav scenario names a channel, so it loads and is meaningful."""
    (s,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == "audio/replay-stereo-44k-wav"]
    (say, *_) = s.caller
    assert say.audio is not None
    assert (say.audio.name, say.channel) == ("stereo_44k.wav", 0)
