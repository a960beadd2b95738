"""The conversation script of the offline stand-ins, loaded from YAML.

The script is configuration, not code: the greeting, the replies in order, the transfer
and farewell lines, the patterns that pick a tool and the tools' names, and the caller
lines the stand-in STT reports when the simulator gave none. :func:`load_script` checks
every key and says which one is wrong; an unknown key is an error (a typo would otherwise
be silently ignored). The default, :data:`DEFAULT_SCRIPT`, ships with the package as
``simulator/standins/script.yaml``: copy it to start your own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_TEXT_KEYS = (
    "greeting_prompt",
    "greeting",
    "fallback_reply",
    "transfer_line",
    "transfer_failed",
    "farewell",
    "repeat_request",
    "system_instruction",
)
_KEYS = frozenset({*_TEXT_KEYS, "replies", "patterns", "tools", "caller_lines", "filler"})
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
DEFAULT_TOOLS = {"transfer": "transfer_to_human", "goodbye": "end_call"}
"""The tools the LLM calls when no ``tools`` key says otherwise (the guide's names)."""
DEFAULT_SCRIPT = Path(__file__).with_name("script.yaml")
"""The script shipped with the package: a short support call, with the guide's tools."""


class ScriptError(ValueError):
    """The script file is missing, unreadable or has a wrong key."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"conversation script {str(path)!r}: {problem} "
            f"(the default script, {DEFAULT_SCRIPT}, shows every key)"
        )


@dataclass(frozen=True)
class Script:
    """What the stand-in LLM says and the stand-in STT hears."""

    greeting_prompt: str
    greeting: str
    replies: tuple[str, ...]
    fallback_reply: str
    transfer_line: str
    transfer_failed: str
    farewell: str
    repeat_request: str
    transfer_pattern: re.Pattern[str]
    goodbye_pattern: re.Pattern[str]
    caller_lines: tuple[str, ...]
    filler: str | None
    system_instruction: str
    transfer_tool: str | None = DEFAULT_TOOLS["transfer"]
    """Called after ``transfer_line`` (None: the line alone)."""
    goodbye_tool: str | None = DEFAULT_TOOLS["goodbye"]
    """Called after ``farewell`` (None: the line alone)."""

    def wants_person(self, text: str) -> bool:
        """Whether the caller asked for a person."""
        return bool(self.transfer_pattern.search(text))

    def says_goodbye(self, text: str) -> bool:
        """Whether the caller said goodbye."""
        return bool(self.goodbye_pattern.search(text))


def _strings(path: Path, data: dict[str, Any], key: str, *, allow_empty: bool) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ScriptError(path, f"{key!r} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ScriptError(path, f"{key!r} must hold at least one line")
    return tuple(value)


def _pattern(path: Path, patterns: dict[str, Any], key: str) -> re.Pattern[str]:
    raw = patterns.get(key)
    if not isinstance(raw, str) or not raw:
        raise ScriptError(path, f"patterns.{key} must be a regular expression")
    try:
        return re.compile(raw, re.IGNORECASE)
    except re.error as exc:
        raise ScriptError(
            path, f"patterns.{key} is not a valid regular expression: {exc}"
        ) from None


def _tools(path: Path, data: dict[str, Any]) -> dict[str, str | None]:
    tools = data.get("tools", DEFAULT_TOOLS)
    if not isinstance(tools, dict) or not set(tools) <= set(DEFAULT_TOOLS):
        raise ScriptError(path, "'tools' may map only 'transfer' and 'goodbye' (to a tool name)")
    names: dict[str, str | None] = {**DEFAULT_TOOLS, **tools}
    for key, name in names.items():
        if name is not None and not (isinstance(name, str) and _TOOL_NAME.fullmatch(name)):
            raise ScriptError(path, f"tools.{key} must be a function name or null; got {name!r}")
    return names


def parse_script(data: Any, path: Path) -> Script:
    """Check a parsed YAML document and build the script from it."""
    if not isinstance(data, dict):
        raise ScriptError(path, "the file must hold a YAML mapping")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ScriptError(path, f"unknown keys {unknown}; known keys are {sorted(_KEYS)}")
    for key in _TEXT_KEYS:
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ScriptError(path, f"{key!r} must be a non-empty string")
    patterns = data.get("patterns")
    if not isinstance(patterns, dict) or set(patterns) != {"transfer", "goodbye"}:
        raise ScriptError(path, "'patterns' must map exactly 'transfer' and 'goodbye'")
    filler = data.get("filler")
    if filler is not None and not (isinstance(filler, str) and filler.strip()):
        raise ScriptError(path, "'filler' must be a non-empty string or null")
    tools = _tools(path, data)
    return Script(
        greeting_prompt=data["greeting_prompt"],
        greeting=data["greeting"],
        replies=_strings(path, data, "replies", allow_empty=True),
        fallback_reply=data["fallback_reply"],
        transfer_line=data["transfer_line"],
        transfer_failed=data["transfer_failed"],
        farewell=data["farewell"],
        repeat_request=data["repeat_request"],
        transfer_pattern=_pattern(path, patterns, "transfer"),
        goodbye_pattern=_pattern(path, patterns, "goodbye"),
        caller_lines=_strings(path, data, "caller_lines", allow_empty=True),
        filler=filler,
        system_instruction=data["system_instruction"],
        transfer_tool=tools["transfer"],
        goodbye_tool=tools["goodbye"],
    )


def load_script(path: str | Path = DEFAULT_SCRIPT, *, setting: str | None = None) -> Script:
    """Read and check the script at ``path``.

    ``setting`` names where the path came from (e.g. an environment variable), so the
    error for a file that cannot be read says what to change.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fix = f"; set {setting}" if setting else ""
        raise ScriptError(path, f"cannot be read ({exc.strerror}){fix}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(path, f"is not valid YAML ({exc})") from None
    return parse_script(data, path)
