"""Verbs that take time: <PlayAudio> in the runner, the tones, and the shell's fallbacks."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from simulator.call.options import CallOptions
from simulator.call.recorder import CallClock, CallRecorder, TimelineEvent
from simulator.call.verb_audio import VerbAudio, decode_audio
from simulator.errors import ScenarioError
from simulator.judge.expect import Observation, judge
from simulator.judge.metrics import measure_tracks
from simulator.judge.scenario import Expectation, parse_scenarios
from simulator.protocol.audio_level import is_audible
from simulator.protocol.bxml import parse_bxml
from simulator.protocol.bxml_runner import (
    Answer,
    BxmlReplaced,
    BxmlRunner,
    Command,
    SetTimer,
    Started,
    TimerFired,
    VerbStarted,
)
from simulator.protocol.codec import PHONE_RATE, Pcm
from simulator.protocol.verb_audio import (
    AudioFetched,
    FetchAudio,
    PlayVerbAudio,
    TimedVerb,
    placeholder_tone,
    playable_content_type,
    ringback,
)
from simulator.protocol.verbs import PlayAudio, Step, plan, stream_hold

BASE = "https://bot.example/answer"


def steps(body: str) -> tuple[Step, ...]:
    """The planned steps of ``<Response>{body}</Response>``."""
    return tuple(plan(parse_bxml(f"<Response>{body}</Response>", context="webhook"), BASE))


def timed(body: str) -> TimedVerb:
    """The one verb of ``<Response>{body}</Response>``, a verb the caller hears."""
    [step] = steps(body)
    assert isinstance(step, TimedVerb)
    return step


def played(planned: str | tuple[Step, ...]) -> PlayAudio:
    """The first step of ``planned`` (a body or its steps), a <PlayAudio>."""
    step = (steps(planned) if isinstance(planned, str) else planned)[0]
    assert isinstance(step, PlayAudio)
    return step


def started(commands: list[Command]) -> list[str]:
    """The verbs the commands record as started, in order."""
    return [type(c.step).__name__ for c in commands if isinstance(c, VerbStarted)]


def peak_hz(samples: Pcm) -> float:
    """The strongest frequency in ``samples`` (8 kHz)."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / PHONE_RATE)[int(np.argmax(spectrum))])


# -- the runner -----------------------------------------------------------------------


def test_play_audio_is_planned_with_its_url_resolved_and_credentials() -> None:
    """<PlayAudio> becomes a step: its relative URL resolved against the document's URL."""
    [step] = steps('<PlayAudio username="u" password="p"> /audio/hold.wav </PlayAudio>')
    assert step == PlayAudio(1, "https://bot.example/audio/hold.wav", "u", "p")


def test_play_audio_holds_the_document_for_the_length_of_its_file() -> None:
    """The runner asks for the file, then holds for its length before the next verb."""
    runner = BxmlRunner(orphan_grace_s=5.0)
    planned = steps("<PlayAudio>/a.wav</PlayAudio><Hangup/>")
    play = played(planned)
    out = runner.handle(Started(planned), 1.0)
    assert [c for c in out if not isinstance(c, VerbStarted)] == [Answer(), FetchAudio(play)]
    assert runner.handle(TimerFired(), 50.0) == []  # no timer runs while the file is fetched
    out = runner.handle(AudioFetched(play, 3.5), 2.0)
    assert out == [PlayVerbAudio(play, 3.5), SetTimer(5.5)]
    assert runner.handle(TimerFired(), 5.4) == [SetTimer(5.5)]
    assert started(runner.handle(TimerFired(), 5.5)) == ["Hangup"]


def test_a_file_with_no_audio_goes_straight_on() -> None:
    """A file that lasts nothing holds nothing: the next verb runs at once."""
    runner = BxmlRunner(orphan_grace_s=5.0)
    planned = steps("<PlayAudio>/a.wav</PlayAudio><Hangup/>")
    runner.handle(Started(planned), 0.0)
    out = runner.handle(AudioFetched(played(planned), 0.0), 1.0)
    assert started(out) == ["Hangup"]
    assert not any(isinstance(c, PlayVerbAudio) for c in out)


def test_a_file_fetched_after_the_verb_was_interrupted_is_ignored() -> None:
    """New BXML while the file is fetched runs at once; the late answer changes nothing."""
    runner = BxmlRunner(orphan_grace_s=5.0)
    planned = steps("<PlayAudio>/a.wav</PlayAudio><Hangup/>")
    runner.handle(Started(planned), 0.0)
    out = runner.handle(BxmlReplaced(steps('<Pause duration="9"/>')), 1.0)
    assert started(out) == ["Pause"]
    assert runner.handle(AudioFetched(played(planned), 3.0), 2.0) == []


def test_stream_hold_counts_a_play_audio_at_the_default_length() -> None:
    """Statically, a <PlayAudio> after <StartStream> keeps the call up for the default 2 s."""
    body = '<StartStream name="a" destination="wss://b/ws"/><PlayAudio>/a.wav</PlayAudio>'
    hold = stream_hold(list(steps(body)))
    assert (hold.keeps_up(), hold.seconds) == (True, 2.0)


# -- the sounds -----------------------------------------------------------------------


def test_the_placeholder_tone_is_440_hz_audible_and_as_long_as_asked() -> None:
    """Speech bwsim cannot synthesise is a 440 Hz tone at -20 dBFS, exactly that long."""
    tone = placeholder_tone(1.25)
    assert len(tone) == 1.25 * PHONE_RATE
    assert peak_hz(tone) == pytest.approx(440, abs=2)
    assert is_audible(tone, -21.0) and not is_audible(tone, -19.0)


def test_ringback_rings_two_seconds_in_six() -> None:
    """<Ring>'s sound: 440 + 480 Hz for 2 s, then 4 s of silence, and again."""
    ring = ringback(7.0)
    assert len(ring) == 7 * PHONE_RATE
    second = PHONE_RATE
    assert is_audible(ring[: 2 * second]) and is_audible(ring[6 * second :])
    assert not np.any(ring[2 * second + 100 : 6 * second])
    spectrum = np.abs(np.fft.rfft(ring[:second].astype(np.float64)))
    assert sorted(np.argsort(spectrum)[-2:]) == [440, 480]  # 1 Hz bins over one second


@pytest.mark.parametrize(
    ("header", "plays"),
    [
        ("audio/wav", True),
        ("audio/x-wav", True),
        ("Audio/MPEG; charset=binary", True),
        ("audio/mp3", True),
        ("application/octet-stream", False),
        ("audio/ogg", False),
        (None, False),
    ],
)
def test_play_audio_plays_only_wav_and_mp3_content_types(header: str | None, plays: bool) -> None:
    """Bandwidth tells the format by Content-Type and plays WAV and MP3 only."""
    assert playable_content_type(header) is plays


# -- the shell's fallback and the outbound track ---------------------------------------------


async def test_a_play_audio_without_a_url_lasts_the_default_with_a_note() -> None:
    """<PlayAudio/> names no file: it lasts play_audio_s, and the note says it has no URL."""
    recorder = CallRecorder(CallClock())
    audio = VerbAudio(recorder, CallOptions(play_audio_s=0.7), "http://127.0.0.1:9")
    step = played("<PlayAudio/>")
    async with httpx.AsyncClient() as client:
        assert await audio.fetch(client, step) == AudioFetched(step, 0.7)
    [note] = [e.detail["detail"] for e in recorder.timeline if e.kind == "note"]
    assert "the verb names no file" in note


async def test_a_url_bwsim_cannot_fetch_lasts_the_default_with_a_note() -> None:
    """A URL that is not http(s) is not fetched: play_audio_s of tone, and a note says why."""
    recorder = CallRecorder(CallClock())
    audio = VerbAudio(recorder, CallOptions(play_audio_s=1.5), "http://127.0.0.1:9")
    step = played("<PlayAudio>ftp://files.example/hold.wav</PlayAudio>")
    async with httpx.AsyncClient() as client:
        fetched = await audio.fetch(client, step)
    assert fetched == AudioFetched(step, 1.5)
    [note] = [e.detail["detail"] for e in recorder.timeline if e.kind == "note"]
    assert "ftp://files.example/hold.wav: not an http(s) URL" in note
    assert "CallOptions.play_audio_s" in note
    audio.play(PlayVerbAudio(step, 1.5))
    [start] = [e for e in recorder.timeline if e.kind == "verb-audio-start"]
    assert (start.detail["sound"], start.detail["seconds"]) == ("tone", 1.5)
    assert peak_hz(recorder.bot_track()[-PHONE_RATE:]) == pytest.approx(440, abs=2)


def test_an_interrupted_verb_is_cut_off_on_the_outbound_track() -> None:
    """A redirect or the call's end stops the verb's sound where the caller stopped hearing it."""
    now = [0.0]
    recorder = CallRecorder(CallClock(lambda: now[0]))
    audio = VerbAudio(recorder, CallOptions(), "http://127.0.0.1:9")
    speak = timed("<SpeakSentence>one two three four five six seven eight</SpeakSentence>")
    audio.play(PlayVerbAudio(speak, 3.0))
    now[0] = 1.0
    audio.cut()
    assert len(recorder.bot_track()) == PHONE_RATE
    [end] = [e for e in recorder.timeline if e.kind == "verb-audio-end"]
    assert (end.at_ms, end.detail) == (1000.0, {"verb": "SpeakSentence", "interrupted": True})


def test_a_verb_heard_to_its_end_is_recorded_at_its_end() -> None:
    """verb-audio-end comes once the sound is over, dated when it ended."""
    now = [0.0]
    recorder = CallRecorder(CallClock(lambda: now[0]))
    audio = VerbAudio(recorder, CallOptions(ring_sound="silence"), "http://127.0.0.1:9")
    audio.play(PlayVerbAudio(timed('<Ring duration="2"/>'), 2.0))
    now[0] = 1.9
    audio.settle()
    assert [e.kind for e in recorder.timeline] == ["verb-audio-start"]
    now[0] = 2.5
    audio.settle()
    assert [(e.kind, e.at_ms) for e in recorder.timeline] == [
        ("verb-audio-start", 0.0),
        ("verb-audio-end", 2000.0),
    ]
    assert recorder.timeline[0].detail["sound"] == "silence"
    assert len(recorder.bot_track()) == 0  # a silent ring adds nothing to the recording


# -- the verb_audio expectation --------------------------------------------------------------


def expectations(expect: str) -> list[Expectation]:
    """The expectations of one scenario with these YAML list items."""
    text = f"scenarios:\n  - name: t\n    expect:\n{textwrap.indent(expect, '      ')}\n"
    (scenario,) = parse_scenarios(text, Path("t.yaml"))
    return list(scenario.expect)


HEARD = Observation(
    call_id="c-1",
    timeline=[
        TimelineEvent("verb-audio-start", 10.0, {"verb": "SpeakSentence", "sound": "tone"}),
        TimelineEvent("verb-audio-end", 1010.0, {"verb": "SpeakSentence"}),
        TimelineEvent("verb-audio-start", 1010.0, {"verb": "PlayAudio", "sound": "tone"}),
        TimelineEvent("verb-audio-end", 1500.0, {"verb": "PlayAudio", "interrupted": True}),
    ],
    exchange=None,
    streams=[],
    requests=[],
    phase="disconnected",
    cause="hangup",
)
"""A call that spoke a sentence, then played a file it could not fetch, cut off by a hang-up."""


def test_verb_audio_passes_on_the_verb_and_sound_heard() -> None:
    """verb_audio finds the verb by its verb, sound and whether it was cut off."""
    speak, cut = expectations(
        "- verb_audio: {verb: SpeakSentence, sound: tone, interrupted: false}\n"
        "- verb_audio: {verb: PlayAudio, interrupted: true}"
    )
    assert judge(HEARD, speak).at_ms == 10.0
    assert judge(HEARD, cut).at_ms == 1010.0


def test_verb_audio_fails_when_the_file_was_not_heard_and_says_what_was() -> None:
    """Expecting a <PlayAudio> file fails on the fallback tone, naming the sound heard."""
    (e,) = expectations("- verb_audio: {verb: PlayAudio, sound: file}")
    verdict = judge(HEARD, e)
    assert not verdict.passed
    assert "its sound was 'tone', not 'file'" in verdict.detail


@pytest.mark.parametrize(
    ("expect", "says"),
    [
        ("- verb_audio: {verb: Speak}", "verb_audio.verb must be one of"),
        ("- verb_audio: {sound: music}", "verb_audio.sound must be one of"),
        ("- verb_audio: {interrupted: yes please}", "verb_audio.interrupted must be true or"),
        ("- verb_audio: {url: /a.wav}", "url"),
    ],
)
def test_a_bad_verb_audio_expectation_is_refused(expect: str, says: str) -> None:
    """An unknown verb or sound, a non-boolean interrupted, an unknown key: each named."""
    with pytest.raises(ScenarioError, match=re.escape(says)):
        expectations(expect)


def test_time_to_first_audio_counts_from_the_stream_not_a_sentence_before_it() -> None:
    """A <SpeakSentence> tone before <StartStream> does not make time to first audio negative."""
    before = placeholder_tone(1.0)  # heard from 0 s; the stream opens at 1.2 s
    bot = np.concatenate([before, np.zeros(PHONE_RATE, np.int16), placeholder_tone(1.0)])
    m = measure_tracks(
        np.zeros(len(bot), np.int16), bot, stream_opened_at_ms=1200, call_end_ms=3000
    )
    assert m.first_audio_ms == pytest.approx(800, abs=25)  # the tone from 2 s on


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate"),
    [("MP3", "MPEG_LAYER_III", 22050), ("WAV", "ULAW", 8000), ("WAV", "PCM_16", 44100)],
)
def test_wav_and_mp3_files_decode_to_their_length_at_8_khz(
    fmt: str, subtype: str, rate: int
) -> None:
    """An MP3, a μ-law WAV and a 44.1 kHz WAV each play for their own length."""
    buffer = io.BytesIO()
    wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    sf.write(buffer, wave.astype(np.float32), rate, format=fmt, subtype=subtype)
    samples = decode_audio(buffer.getvalue())
    assert len(samples) == pytest.approx(PHONE_RATE, abs=PHONE_RATE // 100)
    assert peak_hz(samples) == pytest.approx(440, abs=2)


def test_a_file_that_is_not_audio_is_refused_with_the_reason() -> None:
    """Bytes libsndfile cannot read raise ValueError saying so (the note then quotes it)."""
    with pytest.raises(ValueError, match=r"libsndfile cannot read it \(Format not recognised"):
        decode_audio(b"<html>not found</html>")


def test_the_next_verb_ends_the_one_before_on_the_timeline() -> None:
    """A verb that starts as the one before ends (to the sample) records that one's end first."""
    now = [0.0]
    recorder = CallRecorder(CallClock(lambda: now[0]))
    audio = VerbAudio(recorder, CallOptions(), "http://127.0.0.1:9")
    audio.play(PlayVerbAudio(timed("<SpeakSentence>hi</SpeakSentence>"), 1.0))
    now[0] = 0.9999  # the hold's timer, a hair before the last sample on this clock
    audio.play(PlayVerbAudio(timed('<Ring duration="1"/>'), 1.0))
    assert [(e.kind, e.at_ms, e.detail["verb"]) for e in recorder.timeline] == [
        ("verb-audio-start", 0.0, "SpeakSentence"),
        ("verb-audio-end", 1000.0, "SpeakSentence"),
        ("verb-audio-start", 1000.0, "Ring"),
    ]
