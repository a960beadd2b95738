"""The fuzzer's strategies, its invariant's pure parts, its seed, and its replay scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import Phase, given, seed, settings

from simulator.audit.checks.fuzz import choose_seed, example_problems
from simulator.audit.cli import _config
from simulator.audit.fuzz_rules import FuzzRun, headline_rank
from simulator.audit.fuzzing import (
    OWN_CALL,
    Frame,
    Targets,
    about_trusted_call,
    encode,
    endings,
    frame_sequences,
    media_sample,
    pinned_examples,
    replay_scenario,
)
from simulator.cli.main import _parser
from simulator.judge.scenario import parse_scenarios
from simulator.rest.journal import JournalEntry

TARGETS = Targets(
    own_call=OWN_CALL,
    own_account="9900000",
    victim_call="c-victim",
    victim_account="9900000",
    other_call="c-other",
    other_account="8800000",
)


@given(frame_sequences(TARGETS))
def test_every_generated_frame_can_be_sent(frames: list[Frame]) -> None:
    """Text frames are valid UTF-8 (no lone surrogates) and dict frames are JSON objects."""
    assert frames
    for frame in frames:
        wire = encode(frame)
        if isinstance(wire, str):
            wire.encode("utf-8")
        if isinstance(frame, dict):
            assert isinstance(json.loads(encode(frame)), dict)


def test_the_pinned_examples_cover_duplicate_start_and_media_first() -> None:
    """Every fuzz run sends a second start naming the victim, and media before a forged start."""
    (duplicate, _), (media_first, _), (metachar, ending), *_ = pinned_examples(TARGETS)
    starts = [f for f in duplicate if isinstance(f, dict) and f["eventType"] == "start"]
    assert [s["metadata"]["callId"] for s in starts] == [OWN_CALL, "c-victim"]
    assert isinstance(media_first[0], dict) and media_first[0]["eventType"] == "media"
    assert isinstance(media_first[1], dict) and media_first[1]["metadata"]["callId"] == "c-victim"
    assert isinstance(metachar[0], dict) and "?" in metachar[0]["metadata"]["callId"]
    assert ending == "drop"


def test_a_request_is_about_the_trusted_call_only_when_account_and_call_are_its_own() -> None:
    """The own call id under another account is foreign; so is another call in the own account."""
    assert about_trusted_call("9900000", OWN_CALL, TARGETS)
    assert not about_trusted_call("8800000", OWN_CALL, TARGETS)
    assert not about_trusted_call("9900000", "c-victim", TARGETS)
    assert not about_trusted_call(None, OWN_CALL, TARGETS)


def test_a_forged_start_is_written_as_a_scenario_bwsim_loads(tmp_path: Path) -> None:
    """The replay scenario parses, forges the victim by template, and expects it untouched."""
    start = {
        "eventType": "start",
        "metadata": {"accountId": "8800000", "callId": "c-other", "streamId": "s-1"},
    }
    doc, notes = replay_scenario(
        [start, *[media_sample()] * 2], "drop", TARGETS, name="replay", description="Found."
    )
    assert notes == []
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump({"scenarios": [doc]}), encoding="utf-8")
    (scenario,) = parse_scenarios(path.read_text(encoding="utf-8"), path)
    assert scenario.victim == "other_account"
    assert scenario.call.start_metadata == {
        "accountId": "${victim.accountId}",
        "callId": "${victim.callId}",
        "streamId": "s-1",
    }
    assert [a.kind for a in scenario.caller] == ["silence", "drop"]
    assert any(e.kind == "api_response" and e.absent for e in scenario.expect)


def test_what_a_scenario_cannot_send_is_named() -> None:
    """Frames besides the start frame, and a bare close, are listed as not replayed."""
    (duplicate, _), *_ = pinned_examples(TARGETS)
    _, notes = replay_scenario(duplicate, "close", TARGETS, name="x", description="y")
    assert any("besides the start frame" in n for n in notes)
    assert any("bare close" in n for n in notes)


def test_a_1011_or_1006_close_by_the_bot_before_stop_breaks_the_invariant() -> None:
    """The bot closing with 1011 or 1006 first is a problem; 1008, or our own close, is not."""
    assert "1011" in example_problems("closed", 1011, [], own_up=True)[0]
    assert "crashed" in example_problems("closed", 1006, [], own_up=True)[0]
    assert example_problems("closed", 1008, [], own_up=True) == []
    assert example_problems("open", None, [], own_up=True) == []


def test_the_seed_comes_from_the_option_then_hypothesis_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--fuzz-seed wins; else HYPOTHESIS_SEED (a number, or text hashed to one); else random."""
    monkeypatch.setenv("HYPOTHESIS_SEED", "77")
    assert choose_seed(5) == 5
    assert choose_seed(None) == 77
    monkeypatch.setenv("HYPOTHESIS_SEED", "abc")
    assert choose_seed(None) == choose_seed(None)
    monkeypatch.delenv("HYPOTHESIS_SEED")
    assert 0 <= choose_seed(None) < 2**32


def test_fuzz_seed_and_the_report_folder_reach_the_audit_config(tmp_path: Path) -> None:
    """`bwsim audit --fuzz-seed N --json F` seeds the fuzzer and writes its replay beside F."""
    report = tmp_path / "out" / "audit.json"
    args = _parser().parse_args(
        ["audit", "--app", "bot.app:app", "--fuzz-seed", "99", "--json", str(report)]
    )
    config = _config(args)
    assert config.fuzz_seed == 99
    assert config.fuzz_out == report.parent
    plain = _config(_parser().parse_args(["audit", "--app", "bot.app:app"]))
    assert plain.fuzz_seed is None
    assert plain.fuzz_out == Path.cwd()


def _generated(seed_value: int) -> list[str]:
    """The first examples the check's hypothesis settings generate from ``seed_value``."""
    seen: list[str] = []

    @settings(max_examples=30, database=None, phases=[Phase.generate], deadline=None)
    @given(frames=frame_sequences(TARGETS), ending=endings())
    def record(frames: list[Frame], ending: str) -> None:
        seen.append(repr((frames, ending)))

    seed(seed_value)(record)()
    return seen


def test_the_same_seed_generates_the_same_examples() -> None:
    """A seed fixes the generated start sequences: --fuzz-seed N sends the same ones again."""
    assert _generated(1234) == _generated(1234)
    assert _generated(1234) != _generated(1235)


def test_a_pinned_example_names_the_own_call_under_another_account() -> None:
    """One pinned start names the socket's own call in another account, then drops."""
    *_, (frames, ending) = pinned_examples(TARGETS)
    start = frames[0]
    assert isinstance(start, dict)
    assert start["metadata"]["accountId"] == TARGETS.other_account
    assert start["metadata"]["callId"] == TARGETS.own_call
    assert ending == "drop"


def test_every_run_sends_a_start_with_null_and_with_no_metadata() -> None:
    """The plainest malformed starts are pinned, so every audit finds a bot crashing on them."""
    starts = [f for frames, _ in pinned_examples(TARGETS) if isinstance(f := frames[0], dict)]
    assert any(f["eventType"] == "start" and f.get("metadata", 0) is None for f in starts)
    assert any(f["eventType"] == "start" and "metadata" not in f for f in starts)


def _failing(number: int, call_id: str) -> FuzzRun:
    """A generated example, one start naming ``call_id``, whose request was about that call."""
    start = {"eventType": "start", "metadata": {"callId": call_id, "accountId": "9900000"}}
    path = f"/api/v2/accounts/9900000/calls/{call_id}"
    request = JournalEntry(1, 0.0, "POST", path, "", "update_call", "9900000", call_id, {}, "")
    return FuzzRun(
        number, 0, "generated", [start], "stop", problems=["a request"], foreign=[request]
    )


def test_the_verdict_names_a_request_about_a_victim_over_one_about_a_garbled_id() -> None:
    """A later example's request for a live victim is named before an earlier garbled id's."""
    garbled, victim, later_victim = (
        _failing(3, "%%%%"),
        _failing(7, "c-victim"),
        _failing(9, "c-other"),
    )
    chosen = min([garbled, later_victim, victim], key=lambda r: headline_rank(r, TARGETS))
    assert chosen is victim
    assert min([garbled, _failing(5, "????")], key=lambda r: headline_rank(r, TARGETS)) is garbled
