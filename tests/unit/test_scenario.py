"""Scenario files: what a good file becomes, and how every bad one is named (file, line, key)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.call.audio_files import AudioSource
from simulator.cli.run import bundled_scenarios
from simulator.errors import ScenarioError
from simulator.judge.scenario import (
    ACTIONS,
    EXPECTATIONS,
    SCENARIO_KEYS,
    Anchor,
    Scenario,
    load_scenarios,
    parse_scenarios,
)
from simulator.protocol.codec import Pcm
from simulator.runner.targets import checkout_root
from simulator.suite import AUDIO_DIR, SCENARIOS_DIR

FIXTURES = AUDIO_DIR


def _no_audio(source: AudioSource, line: int | None) -> Pcm:
    return np.zeros(160, dtype=np.int16)


def parse(text: str, path: Path = Path("suite.yaml")) -> list[Scenario]:
    """Scenarios from YAML text, with every audio file standing in as silence."""
    return parse_scenarios(textwrap.dedent(text), path, load_audio=_no_audio)


def error(text: str) -> ScenarioError:
    """The error a bad file raises."""
    with pytest.raises(ScenarioError) as info:
        parse(text)
    return info.value


GOOD = """\
audio_dir: .
call: {auth: preemptive, max_call_s: 30}
scenarios:
  - name: Barge in
    description: talk over the bot
    bot_env: {BOT_TOKEN_TTL_S: 2}
    call: {max_call_s: 20}
    caller:
      - say: monologue.wav
        text: I have a question.
        send_after: bot_speech_start
        delay_ms: 300
      - stay: 5000
      - hangup
    expect:
      - clear: {after: caller_audio_start, within_ms: 1500, bot_was_speaking: true}
      - play_audio: {after: clear#2, within_ms: 2000, absent: true}
      - hangup_request: {max_count: 1}
      - call_state: {state: disconnected}
"""


def test_a_good_file_becomes_checked_records() -> None:
    """Defaults merge key by key; actions and expectations carry their options and lines."""
    (s,) = parse(GOOD)
    assert s.id == "suite/barge-in"
    assert s.line == 4
    assert s.bot_env == (("BOT_TOKEN_TTL_S", "2"),)
    assert (s.call.auth, s.call.max_call_s) == ("preemptive", 20.0)  # merged, scenario wins
    say, stay, hangup = s.caller
    assert (say.kind, say.text, say.send_after, say.delay_ms, say.line) == (
        "say",
        "I have a question.",
        "bot_speech_start",
        300.0,
        9,
    )
    assert (stay.kind, stay.ms, hangup.kind) == ("stay", 5000.0, "hangup")
    clear, quiet, hangups, state = s.expect
    assert clear.after == Anchor("caller-audio-start", 1, "caller_audio_start")
    assert (clear.within_ms, clear.params, clear.line) == (1500.0, {"bot_was_speaking": True}, 16)
    assert (quiet.absent, quiet.after.nth) == (True, 2)
    assert hangups.max_count == 1
    assert state.params == {"state": "disconnected"}
    assert s.caller_lines == ["I have a question."]


def test_the_bundled_scenarios_load() -> None:
    """Every bundled scenario file is valid, its audio readable, its ids unique."""
    scenarios = load_scenarios(bundled_scenarios())
    assert len(scenarios) == 31
    assert len({s.id for s in scenarios}) == len(scenarios)


def test_the_packaged_suite_sets_nothing_only_the_reference_bot_reads() -> None:
    """The packaged scenarios set no bot_env: they apply to any bot; the checkout's do."""
    packaged = load_scenarios([SCENARIOS_DIR])
    assert len(packaged) == 29
    assert [s.id for s in packaged if s.bot_env] == []
    root = checkout_root()
    assert root is not None
    own = load_scenarios([root / "scenarios"])
    assert own
    assert all(s.bot_env for s in own)


def test_a_named_bot_gets_the_packaged_suite_only() -> None:
    """With --app/--cmd/--url and no paths, the default is the packaged suite alone."""
    assert [p.resolve() for p in bundled_scenarios(bundled_bot=False)] == [SCENARIOS_DIR]
    with_checkout = [p.resolve() for p in bundled_scenarios()]
    assert with_checkout[0] == SCENARIOS_DIR
    assert len(with_checkout) == 2


def test_bwsim_audio_names_the_packaged_recordings_wherever_the_file_is(tmp_path: Path) -> None:
    """audio_dir: bwsim:audio reads the packaged audio, not a folder beside the file."""
    text = "audio_dir: bwsim:audio\nscenarios:\n  - name: a\n    caller:\n      - say: hello.wav\n"
    text += "    expect:\n      - play_audio: {}\n"
    (s,) = parse_scenarios(text, tmp_path / "mine.yaml")
    assert s.caller[0].audio == AUDIO_DIR / "hello.wav"
    assert s.caller_lines == ["Hello, can you hear me?"]


def test_a_missing_transcript_is_read_from_transcripts_yaml() -> None:
    """A say without text takes the words from transcripts.yaml beside the audio file."""
    text = f"audio_dir: {FIXTURES}\nscenarios:\n  - name: a\n    caller:\n      - say: person.wav\n"
    text += "    expect:\n      - transfer_request: {}\n"
    (s,) = parse_scenarios(text, Path("x.yaml"))
    assert s.caller_lines == ["I would like to speak to a person please."]


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (  # a typo'd scenario key, with a suggestion
            "scenarios:\n  - name: a\n    expect:\n      - clear: {}\n    calller: {}\n",
            5,
            "calller",
            "did you mean 'caller'",
        ),
        (  # a typo'd option of an expectation
            "scenarios:\n  - name: a\n    expect:\n      - clear: {within: 3}\n",
            4,
            "within",
            "did you mean 'within_ms'",
        ),
        (  # an unknown expectation
            "scenarios:\n  - name: a\n    expect:\n      - clears: {}\n",
            4,
            "clears",
            "did you mean 'clear'",
        ),
        (  # an unknown event
            "scenarios:\n  - name: a\n    expect:\n      - clear: {after: caller_start}\n",
            4,
            "after",
            "event name",
        ),
        (  # a duplicate key, which YAML would silently drop
            "scenarios:\n  - name: a\n    name: b\n    expect: [clear]\n",
            3,
            "name",
            "duplicate key",
        ),
        (  # nothing to check: a scenario that can never fail
            "scenarios:\n  - name: a\n    caller: [hangup]\n",
            2,
            "expect",
            "can never fail",
        ),
        (  # timing keys on an untimed expectation are refused, not ignored
            "scenarios:\n  - name: a\n    expect:\n      - call_state: {within_ms: 5}\n",
            4,
            "within_ms",
            "unknown key",
        ),
        (  # the victim is named but not set up
            "scenarios:\n  - name: a\n    expect:\n      - api_response: {call: victim}\n",
            4,
            None,
            "no victim",
        ),
        (  # a template the runner cannot fill
            "scenarios:\n  - name: a\n    call: {start_metadata: {callId: '${victm.callId}'}}\n"
            "    expect: [clear]\n",
            3,
            "start_metadata",
            "unknown template",
        ),
        (  # absent with a count contradicts itself
            "scenarios:\n  - name: a\n    expect:\n      - clear: {absent: true, count: 2}\n",
            4,
            "absent",
            "cannot go with count",
        ),
        (  # a bad auth mode
            "scenarios:\n  - name: a\n    call: {auth: basic}\n    expect: [clear]\n",
            3,
            None,
            "call.auth must be one of",
        ),
        (  # two scenarios with one name
            "scenarios:\n  - name: a\n    expect: [clear]\n  - name: A\n    expect: [clear]\n",
            4,
            "name",
            "two scenarios are named",
        ),
        ("scenarios: []\n", 1, "scenarios", "is empty"),
        ("name: a\n", 1, "scenarios", "`scenarios:` list"),
        ("scenarios:\n  - name: [unclosed\n", 3, None, "not valid YAML"),
    ],
)
def test_a_bad_file_is_named_with_line_and_key(
    text: str, line: int, key: str | None, words: str
) -> None:
    """Each kind of mistake is reported with the file, the line and the key at fault."""
    exc = error(text)
    assert exc.path == Path("suite.yaml")
    assert (exc.line, exc.key) == (line, key)
    assert words in str(exc)
    assert str(exc).startswith(f"suite.yaml:{line}")


def test_a_missing_audio_file_is_named_with_its_line(tmp_path: Path) -> None:
    """A say whose file does not exist fails at load time, before any call, naming it."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "scenarios:\n  - name: a\n    caller:\n      - say: nope.wav\n    expect: [clear]\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path])
    assert (info.value.line, info.value.key) == (4, "say")
    assert "no such file" in str(info.value)
    assert "nope.wav" in str(info.value)


def test_a_folder_without_scenarios_is_an_error(tmp_path: Path) -> None:
    """A folder with no .yaml files is refused rather than run as an empty suite."""
    with pytest.raises(ScenarioError, match=r"no \.yaml scenario files"):
        load_scenarios([tmp_path])


def test_ids_must_be_unique_across_files(tmp_path: Path) -> None:
    """Two files with the same stem and scenario name collide, and both places are named."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "s.yaml").write_text("scenarios:\n  - name: x\n    expect: [clear]\n")
    with pytest.raises(ScenarioError, match="also used at"):
        load_scenarios([tmp_path / "a", tmp_path / "b"])


KNOWN = SCENARIO_KEYS | set(ACTIONS) | set(EXPECTATIONS)
YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null"}
"""Words YAML reads as booleans or null, not as keys (the next test covers them)."""


@given(
    st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True).filter(
        lambda k: k not in KNOWN and k not in YAML_WORDS
    )
)
def test_any_unknown_scenario_key_is_refused_by_name(key: str) -> None:
    """No key outside the format is ever silently ignored."""
    exc = error(f"scenarios:\n  - name: a\n    expect: [clear]\n    {key}: 1\n")
    assert (exc.line, exc.key) == (4, key)


@pytest.mark.parametrize("word", sorted(YAML_WORDS))
def test_a_key_yaml_reads_as_a_boolean_says_to_quote_it(word: str) -> None:
    """``off: 1`` is refused at its line, saying YAML did not read it as a key."""
    exc = error(f"scenarios:\n  - name: a\n    expect: [clear]\n    {word}: 1\n")
    assert exc.line == 4
    assert "quote the key" in str(exc)


EVALS_FORM = """\
scenarios:
  - name: a
    caller:
      - wait_for: {event: bot_speech_end}
      - say: monologue.wav
        send_after: {event: bot_speech_start, delay_ms: 300}
    expect: [clear]
"""


def test_pipecat_evals_forms_are_the_same_steps() -> None:
    """send_after: {event, delay_ms} and wait_for: {event} read as their flat counterparts."""
    (s,) = parse(EVALS_FORM)
    wait, say = s.caller
    assert (wait.kind, wait.event) == ("wait_for", "bot_speech_end")
    assert (say.send_after, say.delay_ms) == ("bot_speech_start", 300.0)
    flat = EVALS_FORM.replace("{event: bot_speech_end}", "bot_speech_end").replace(
        "{event: bot_speech_start, delay_ms: 300}", "bot_speech_start\n        delay_ms: 300"
    )
    (same,) = parse(flat)
    assert same.caller == s.caller


def _with_send_after(value: str) -> str:
    return EVALS_FORM.replace("{event: bot_speech_start, delay_ms: 300}", value)


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (_with_send_after("[bot_speech_start, 300]"), 6, "send_after", "must be an event name"),
        (_with_send_after("300"), 6, "send_after", "must be an event name"),
        (_with_send_after("{delay_ms: 300}"), 6, "send_after", "`event:` is missing"),
        (_with_send_after("{event: bot_speech_start, delay: 300}"), 6, "delay", "'delay_ms'"),
        (
            _with_send_after("{event: bot_speech_strat}"),
            6,
            "send_after",
            "did you mean 'bot_speech_start'",
        ),
        (_with_send_after("{event: bot_speech_start, delay_ms: soon}"), 6, "delay_ms", "number"),
        (
            _with_send_after("{event: bot_speech_start, delay_ms: 300}\n        delay_ms: 300"),
            7,
            "delay_ms",
            "give delay_ms once",
        ),
        (
            EVALS_FORM.replace("{event: bot_speech_end}", "{event: bot_speech_end, delay_ms: 5}"),
            4,
            "delay_ms",
            "unknown key 'delay_ms' in wait_for",
        ),
        (  # time zero is not an event to wait for: refused rather than waited on forever
            _with_send_after("{event: call_start}"),
            6,
            "send_after",
            "call_start is time zero",
        ),
        (EVALS_FORM.replace("{event: bot_speech_end}", "call_start"), 4, "wait_for", "time zero"),
        (  # the Python API's other spelling, in YAML, is named with the right one
            EVALS_FORM.replace("{event: bot_speech_end}", "bot-speech-end"),
            4,
            "wait_for",
            "did you mean 'bot_speech_end'",
        ),
    ],
)
def test_a_malformed_event_step_is_named_with_line_and_field(
    text: str, line: int, key: str, words: str
) -> None:
    """Any other shape of send_after/wait_for is a ScenarioError with file, line and field."""
    exc = error(text)
    assert (exc.line, exc.key) == (line, key), str(exc)
    assert words in str(exc)


def test_a_malformed_send_after_is_exit_2_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bwsim run` stops with exit 2 and file:line: field, not a traceback and exit 1."""
    from simulator.cli.main import main

    suite = tmp_path / "bad.yaml"
    suite.write_text(f"audio_dir: {FIXTURES}\n" + _with_send_after("{event: [bot_speech_start]}"))
    assert main(["run", str(suite), "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert f"{suite}:7: send_after:" in err
    assert "Traceback" not in err
