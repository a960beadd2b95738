"""Packaged files by name (``bwsim:…``), ``extends:``, delayed anchors and ``call.linger_ms``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.judge.expect import judge
from simulator.judge.scenario import load_scenarios
from simulator.suite import AUDIO_DIR, PATHS_DIR, SCENARIOS_DIR, resolve_packaged
from tests.unit.test_expect import entry, ev, obs, one

BASE = """\
audio_dir: bwsim:audio
call: {webhook_path: /voice, disconnect_path: /status, max_call_s: 20}
scenarios:
  - name: hang up
    call: {max_call_s: 10}
    caller:
      - say: hello.wav
      - hangup: true
    expect:
      - callback: {event: disconnect, delivered: true}
"""


def write(folder: Path, name: str, text: str) -> Path:
    """A scenario file in ``folder``."""
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refusal(paths: list[Path | str]) -> ScenarioError:
    """The error loading ``paths`` raises."""
    with pytest.raises(ScenarioError) as info:
        load_scenarios(paths)
    return info.value


def test_bwsim_names_resolve_to_packaged_files_and_stay_inside_the_package() -> None:
    """``bwsim:audio``, ``bwsim:paths/x`` are package paths; ``bwsim:../x`` is refused."""
    assert resolve_packaged("bwsim:audio") == AUDIO_DIR
    assert resolve_packaged("bwsim:scenarios") == SCENARIOS_DIR
    assert resolve_packaged("bwsim:paths/dtmf.yaml") == PATHS_DIR / "dtmf.yaml"
    assert resolve_packaged("scenarios/mine.yaml") is None
    with pytest.raises(ValueError, match="outside"):
        resolve_packaged("bwsim:../../etc/passwd")


def test_the_packaged_path_files_load_by_name_and_are_not_in_the_default_run() -> None:
    """``bwsim:paths`` loads the opt-in files; the default suite holds none of them."""
    by_name = load_scenarios(["bwsim:paths"])
    names = {s.path.name for s in by_name}
    assert names == {"disconnect.yaml", "outbound.yaml", "dtmf.yaml", "transfer.yaml"}
    assert all(s.path.parent == PATHS_DIR for s in by_name)
    assert not [s for s in load_scenarios([SCENARIOS_DIR]) if s.path.parent == PATHS_DIR]


def test_a_packaged_name_that_does_not_exist_lists_the_packaged_ones() -> None:
    """A typo in ``bwsim:paths/outbond.yaml`` is exit 2 naming what is there."""
    err = refusal(["bwsim:paths/outbond.yaml"])
    assert "no such packaged file" in str(err)
    assert "outbound.yaml" in str(err)


def test_extends_runs_the_base_scenarios_under_the_users_defaults(tmp_path: Path) -> None:
    """The user's ``call`` keys go over the base file's; the scenario's own keys still win."""
    (tmp_path / "common").mkdir()
    (tmp_path / "mine").mkdir()
    write(tmp_path / "common", "base.yaml", BASE)
    text = "extends: ../common/base.yaml\ncall: {disconnect_path: /hangup, max_call_s: 5}\n"
    mine = write(tmp_path / "mine", "mybot.yaml", text)
    (s,) = load_scenarios([mine])
    assert s.call.disconnect_path == "/hangup"
    assert s.call.webhook_path == "/voice"  # the base file's, not overridden
    assert s.call.max_call_s == 10  # the scenario's own value wins over any default
    assert s.id == "mybot/hang-up"  # two files can extend one base for two bots
    assert s.path == (tmp_path / "common" / "base.yaml").resolve()  # reports point at the scenario


def test_extends_a_packaged_file_by_name(tmp_path: Path) -> None:
    """``extends: bwsim:paths/outbound.yaml`` with a trigger of the user's own."""
    mine = write(
        tmp_path,
        "calls.yaml",
        """\
        extends: bwsim:paths/outbound.yaml
        call:
          trigger: {method: PUT, path: /call-me, json: {number: "+15555550123"}}
        """,
    )
    scenarios = load_scenarios([mine])
    assert scenarios
    for s in scenarios:
        assert s.call.outbound is not None
        assert (s.call.outbound.method, s.call.outbound.path) == ("PUT", "/call-me")
        assert s.call.outbound.json == {"number": "+15555550123"}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("extends: base.yaml\nscenarios: []\n", 2, "holds only defaults"),
        ("extends: nothere.yaml\n", 1, "is not a file"),
        ("extends: bwsim:paths/nothere.yaml\n", 1, "the packaged ones are"),
        ("extends: base.yaml\ncall: {disconect_path: /x}\n", 2, "did you mean 'disconnect_path'"),
        ("extends: chain.yaml\n", 1, "one level of extends only"),
    ],
)
def test_a_bad_extending_file_is_named_with_its_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    """Each fault of the user's file names that file, the line and what to do."""
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "chain.yaml", "extends: base.yaml\n")
    mine = write(tmp_path, "mine.yaml", text)
    err = refusal([mine])
    assert err.path == mine
    assert err.line == line
    assert words in str(err)


def test_a_fault_in_the_extended_file_names_that_file(tmp_path: Path) -> None:
    """A broken base is reported against the base, where the fix goes."""
    base = write(tmp_path, "base.yaml", BASE.replace("hangup: true", "hangup: yes please"))
    mine = write(tmp_path, "mine.yaml", "extends: base.yaml\n")
    err = refusal([mine])
    assert err.path == base
    assert "hangup takes true" in str(err)


def test_a_delayed_anchor_opens_the_window_that_long_after_the_event() -> None:
    """``after: {event: call_ended, delay_ms: 1500}`` ignores a request 1 s after the end."""
    e = one("api_response: {absent: true, after: {event: call_ended, delay_ms: 1500}}")
    assert e.after.delay_ms == 1500
    assert e.describe() == "no api_response (after call_ended + 1500 ms)"
    ended = ev("call-ended", 2000, cause="hangup")
    soon = obs(ended, requests=[entry(3000, "c-1", 404, {"state": "completed"}, "update_call")])
    assert judge(soon, e).passed
    late = obs(ended, requests=[entry(4000, "c-1", 404, {"state": "completed"}, "update_call")])
    verdict = judge(late, e)
    assert not verdict.passed
    assert "after call_ended + 1500 ms, which must not happen" in verdict.detail


def test_a_delayed_anchor_refuses_unknown_keys_and_bad_delays(tmp_path: Path) -> None:
    """``after: {event:, delay_ms:}`` is checked like every other key."""
    for bad, words in (
        ("{event: call_ended, delay: 5}", "did you mean 'delay_ms'"),
        ("{event: call_ended, delay_ms: -1}", "after.delay_ms must be a number"),
        ("{delay_ms: 5}", "takes EVENT or {event: EVENT, delay_ms: MS}"),
    ):
        text = f"scenarios:\n  - name: x\n    expect:\n      - clear: {{after: {bad}}}\n"
        path = write(tmp_path, "bad.yaml", text)
        assert words in str(refusal([path]))


def test_linger_ms_is_read_and_checked(tmp_path: Path) -> None:
    """``call.linger_ms`` keeps the call's requests recorded longer; a negative one is refused."""
    text = "scenarios:\n  - name: x\n    call: {linger_ms: %s}\n    expect: [clear]\n"
    good = write(tmp_path, "good.yaml", text % 4000)
    assert load_scenarios([good])[0].call.linger_ms == 4000
    bad = write(tmp_path, "bad.yaml", text % -5)
    assert "call.linger_ms must be a number" in str(refusal([bad]))
