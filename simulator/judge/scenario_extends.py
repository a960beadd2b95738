"""``extends:``: a scenario file that runs another file's scenarios with defaults of its own.

This is how a user points a packaged scenario file at their bot without copying it::

    # scenarios/outbound.yaml, in the user's repository
    extends: bwsim:paths/outbound.yaml
    call:
      trigger: {method: POST, path: /call-me, json: {number: "+15555550123"}}

Such a file holds ``extends`` and defaults, no ``scenarios``. Its defaults go over the
extended file's top-level keys (mappings such as ``call`` and ``bot_env`` key by key, as
a scenario goes over its file's defaults); each scenario of the extended file then goes
over the result as usual. So the keys a file sets only at its top (the packaged ones set
the bot's paths there and nowhere else) are the ones another file can change. The
scenarios keep their own file and lines (reports point at them); their ids take the
extending file's stem, so two files can extend one file for two bots.

:func:`extend` reads and checks the extended file, and returns the mapping to parse in
its place. Errors are :class:`~simulator.judge.scenario_yaml.Problem` at the ``extends``
line; a fault in the extended file itself is that file's own error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from simulator.judge.scenario_yaml import LineLoader, LineMap, Problem, check_string, merged
from simulator.suite import PACKAGED_PREFIX, resolve_packaged

__all__ = ["EXTENDS", "extend"]

EXTENDS = "extends"
"""The top-level key that names the file whose scenarios a file runs."""


def _base_path(value: str, path: Path, line: int) -> Path:
    try:
        packaged = resolve_packaged(value)
    except ValueError as exc:
        raise Problem(str(exc), line, EXTENDS) from None
    base = packaged or (path.parent / value).resolve()
    if not base.is_file():
        hint = (
            f" (the packaged ones are {PACKAGED_PREFIX}paths/disconnect.yaml, "
            f"{PACKAGED_PREFIX}paths/outbound.yaml and {PACKAGED_PREFIX}paths/dtmf.yaml)"
            if packaged is not None
            else " (a path from this file's folder, or bwsim:NAME for a packaged file)"
        )
        raise Problem(f"extends: {value!r} is not a file: {base}{hint}", line, EXTENDS)
    return base


def _absolute_audio_dir(data: LineMap, folder: Path) -> None:
    """Make a relative ``audio_dir`` of ``data`` absolute from ``folder``, where it was written."""
    value = data.get("audio_dir")
    if isinstance(value, str) and not value.startswith(PACKAGED_PREFIX):
        data["audio_dir"] = str((folder / value).resolve())


def extend(data: LineMap, path: Path, check: Callable[[str, Path], Any]) -> tuple[LineMap, Path]:
    """The file ``data`` (read from ``path``) extends, with ``data``'s defaults over its own.

    Returns the mapping to parse and the extended file's path, which its scenarios keep.
    ``check`` parses the extended file's text on its own first, so a fault there names
    that file.
    """
    line = data.key_lines[EXTENDS]
    if "scenarios" in data:
        raise Problem(
            "a file with extends: runs the scenarios of the file it names and holds only "
            "defaults over them; put scenarios of your own in a file without extends",
            data.key_lines["scenarios"],
            "scenarios",
        )
    value = check_string(data[EXTENDS], "extends", line, EXTENDS)
    base_path = _base_path(value, path, line)
    try:
        text = base_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Problem(f"extends: {value!r} cannot be read: {exc}", line, EXTENDS) from None
    try:
        base = yaml.load(text, Loader=LineLoader)  # noqa: S506 - LineLoader is a SafeLoader
    except yaml.YAMLError:
        base = None  # check() below says what is wrong, naming that file
    if isinstance(base, LineMap) and EXTENDS in base:
        raise Problem(
            f"extends: {value!r} extends another file itself; name that file instead "
            "(one level of extends only)",
            line,
            EXTENDS,
        )
    check(text, base_path)
    assert isinstance(base, LineMap)  # check() refused anything else
    own = LineMap({k: v for k, v in data.items() if k != EXTENDS})
    own.line = data.line
    own.key_lines = {k: v for k, v in data.key_lines.items() if k != EXTENDS}
    _absolute_audio_dir(own, path.parent)
    defaults = LineMap({k: v for k, v in base.items() if k != "scenarios"})
    defaults.line = base.line
    defaults.key_lines = {k: v for k, v in base.key_lines.items() if k != "scenarios"}
    out = merged(defaults, own)
    out["scenarios"] = base["scenarios"]
    out.key_lines["scenarios"] = base.key_lines["scenarios"]
    return out, base_path
