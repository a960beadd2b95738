"""The ``replay:`` caller action of scenario files: a recorded call's caller, played again.

``- replay: PATH`` or ``- replay: {archive: PATH, timing: turns}`` (``timing`` is
``recorded``, the default, or ``turns``; ``linger_ms`` and ``reply_timeout_ms`` as in
``bwsim replay``). ``PATH`` is a call archive folder (``bwsim record`` writes them),
relative to the scenario file. The archive is read and checked when the file is loaded:
a missing or bad archive is a :class:`~simulator.errors.ScenarioError` naming the
scenario file, the line and the archive's own file and field.

The action is the recorded caller's whole part: it waits for the stream, speaks the
recording (at its recorded times, or turn by turn), stays on the line as long as the
recorded caller did (plus ``linger_ms`` when the bot may have hung up), then hangs up,
unless the bot ends the call first. The call itself (numbers, webhook body, path) is the
scenario's ``call:`` section, not the recording's: ``bwsim replay`` plays the recorded
webhook too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from simulator.archive.model import ArchiveError, CallArchive
from simulator.judge.scenario_yaml import LineMap, Problem, check_number, refuse_unknown
from simulator.replay.plan import (
    DEFAULT_LINGER_MS,
    DEFAULT_REPLY_TIMEOUT_MS,
    TIMINGS,
    ReplayPlan,
    plan_replay,
)

__all__ = ["REPLAY_KEYS", "parse_replay"]

REPLAY_KEYS: Final = frozenset({"archive", "timing", "linger_ms", "reply_timeout_ms"})
FORM = "replay: PATH or replay: {archive: PATH, timing: recorded|turns}"


def parse_replay(value: Any, line: int, base: Path) -> tuple[Path, ReplayPlan]:
    """The archive's path and the replay's plan; a Problem names what is wrong."""
    options: dict[str, Any] = {}
    timing: Any = "recorded"
    if isinstance(value, LineMap):
        refuse_unknown((k for k in value if k not in REPLAY_KEYS), REPLAY_KEYS, value, "replay")
        lines: dict[str, int] = value.key_lines

        def at(key: str) -> int:
            return lines.get(key, line)

        if "archive" not in value:
            raise Problem(f"replay needs the archive: {FORM}", line, "replay")
        timing = value.get("timing", "recorded")
        if timing not in TIMINGS:
            raise Problem(
                f"replay.timing must be one of {list(TIMINGS)}, got {timing!r}",
                at("timing"),
                "timing",
            )
        for key, default in (
            ("linger_ms", DEFAULT_LINGER_MS),
            ("reply_timeout_ms", DEFAULT_REPLY_TIMEOUT_MS),
        ):
            options[key] = check_number(value.get(key, default), f"replay.{key}", at(key), key)
        line, value = at("archive"), value["archive"]
    if not isinstance(value, str) or not value:
        raise Problem(f"replay takes an archive folder: {FORM}; got {value!r}", line, "replay")
    path = Path(value) if Path(value).is_absolute() else (base / value).resolve()
    try:
        archive = CallArchive.load(path)
        plan = plan_replay(archive, timing=timing, **options)
    except ArchiveError as exc:
        raise Problem(f"replay: {exc}", line, "replay") from None
    return path, plan
