"""The stand-ins' conversation script: the shipped default and the checks on every key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.standins import DEFAULT_SCRIPT, ScriptError, load_script


def write(tmp_path: Path, **changes: object) -> Path:
    """The shipped script with ``changes`` (a value of None removes the key)."""
    data = yaml.safe_load(DEFAULT_SCRIPT.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_script_loads() -> None:
    """simulator/standins/script.yaml is valid and has the lines the offline conversation needs."""
    script = load_script(DEFAULT_SCRIPT)
    assert script.greeting
    assert script.replies
    assert script.caller_lines


@pytest.mark.parametrize(
    ("text", "person", "goodbye"),
    [
        ("I would like to speak to a person please.", True, False),
        ("Can I talk to a HUMAN?", True, False),
        ("Get me an operator", True, False),
        ("Thank you, goodbye.", False, True),
        ("Okay bye!", False, True),
        ("What are your opening hours?", False, False),
        ("personal details", False, False),
    ],
)
def test_patterns_pick_the_tool(text: str, person: bool, goodbye: bool) -> None:
    """The shipped patterns match requests for a person and goodbyes, and little else."""
    script = load_script(DEFAULT_SCRIPT)
    assert (script.wants_person(text), script.says_goodbye(text)) == (person, goodbye)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"greeting": None}, "'greeting' must be a non-empty string"),
        ({"greeting": ""}, "'greeting' must be a non-empty string"),
        ({"replies": "one line"}, "'replies' must be a list"),
        ({"caller_lines": [1, 2]}, "'caller_lines' must be a list"),
        ({"patterns": {"transfer": "x"}}, "must map exactly 'transfer' and 'goodbye'"),
        ({"patterns": {"transfer": "(", "goodbye": "bye"}}, "patterns.transfer is not a valid"),
        ({"greting": "Hi"}, "unknown keys ['greting']"),
        ({"filler": ""}, "'filler' must be a non-empty string or null"),
    ],
)
def test_a_bad_script_is_refused_naming_the_key(
    tmp_path: Path, changes: dict[str, object], problem: str
) -> None:
    """Each kind of mistake in the script is an error that says which key is wrong."""
    with pytest.raises(ScriptError, match=problem.replace("(", r"\(").replace("[", r"\[")):
        load_script(write(tmp_path, **changes))


def test_a_missing_script_file_names_the_path_and_the_setting(tmp_path: Path) -> None:
    """A script path that does not exist is an error naming the path and, if given, its setting."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScriptError, match=r"nope\.yaml") as plain:
        load_script(missing)
    assert "set " not in str(plain.value)
    with pytest.raises(ScriptError, match=r"cannot be read.*; set MY_SCRIPT"):
        load_script(missing, setting="MY_SCRIPT")


def test_an_error_points_at_the_default_script() -> None:
    """Every script error names the shipped default, which shows every key."""
    with pytest.raises(ScriptError, match=str(DEFAULT_SCRIPT).replace(".", r"\.")):
        load_script(Path("no/such/script.yaml"))


def test_the_tools_default_to_the_guides_names(tmp_path: Path) -> None:
    """Without a tools key the LLM calls transfer_to_human and end_call."""
    script = load_script(write(tmp_path, tools=None))
    assert (script.transfer_tool, script.goodbye_tool) == ("transfer_to_human", "end_call")


def test_the_tools_can_be_renamed_or_left_out(tmp_path: Path) -> None:
    """A bot's own tool names replace the defaults; null says the line with no tool."""
    script = load_script(write(tmp_path, tools={"transfer": "handoff", "goodbye": None}))
    assert (script.transfer_tool, script.goodbye_tool) == ("handoff", None)


@pytest.mark.parametrize(
    ("tools", "problem"),
    [
        ({"transfer": "two words"}, "tools.transfer must be a function name or null"),
        ({"goodbye": 3}, "tools.goodbye must be a function name or null"),
        ({"hold": "hold_call"}, "'tools' may map only 'transfer' and 'goodbye'"),
        (["end_call"], "'tools' may map only"),
    ],
)
def test_a_bad_tools_key_is_refused_naming_it(tmp_path: Path, tools: object, problem: str) -> None:
    """A tool name that is not a name, or an unknown tool key, is an error naming the key."""
    with pytest.raises(ScriptError, match=problem.replace("(", r"\(")):
        load_script(write(tmp_path, tools=tools))
