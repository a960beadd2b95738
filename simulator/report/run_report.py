"""Reports of a ``bwsim run``: the console table, the JSON file and JUnit XML.

The JSON is versioned (``"schema": 1``) and lists every scenario with ``id``, ``passed``
(true/false), ``status``, a one-sentence ``detail``, its expectations with their own
verdicts, and the evidence (webhook attempts, streams, API requests, violations, the
timeline) that decided it. ``bots`` lists every bot the run started: its ``log`` file (in
the output folder), and ``exit_code`` when it exited mid-suite; each scenario names its
bot's log in ``bot_log``. Fields are only ever added within a schema number, so readers
of schema 1 keep working. A scenario bwsim could not run has status ``"error"`` and an
``error`` object (``type``, ``message``, ``traceback``); the summary counts them in
``error`` and JUnit reports them as ``<error>``. A scenario that missed a time budget twice
on a loaded machine has status ``"unreliable"`` (counted in ``unreliable``, JUnit
``<skipped>`` with the reason: not the bot's failure, not a pass either), with the machine's
``load`` and its ``first_attempt``. An interrupted run (Ctrl-C, SIGTERM) still writes both
files: ``"interrupted": true``, and every scenario that had not finished is ``"skipped"``
(JUnit ``<skipped>``) with the reason. The JUnit file has one ``testsuite`` per scenario
file and one ``testcase`` per scenario, so CI systems show each scenario on its own.
"""

from __future__ import annotations

import json
import platform
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.runner.suite import ScenarioResult, SuiteResult
from simulator.runner.targets import passed_env_names

__all__ = [
    "bot_lines",
    "console_table",
    "progress_line",
    "suite_json",
    "write_json",
    "write_junit",
]

SCHEMA = 1
_VERDICT = {
    "passed": "PASS",
    "failed": "FAIL",
    "unreliable": "UNSURE",
    "skipped": "SKIP",
    "error": "ERROR",
}


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def suite_json(suite: SuiteResult) -> dict[str, Any]:
    """The whole run as a JSON-ready mapping (schema 1)."""
    return {
        "schema": SCHEMA,
        "tool": "bwsim run",
        "target": suite.target,
        "started_at": suite.started_at.isoformat(),
        "duration_ms": round(suite.duration_ms, 1),
        "passed": suite.passed,
        "interrupted": suite.interrupted,
        "summary": {
            "total": len(suite.results),
            "passed": suite.count("passed"),
            "failed": suite.count("failed"),
            "unreliable": suite.count("unreliable"),
            "skipped": suite.count("skipped"),
            "error": suite.count("error"),
        },
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "bots": [b.to_dict() for b in suite.bots],
        # names only: the variables of bwsim's environment passed on to the bots (--pass-env)
        "passed_env": list(passed_env_names(present=True)),
        "scenarios": [r.to_dict() for r in suite.results],
    }


def write_json(suite: SuiteResult, path: Path) -> Path:
    """Write :func:`suite_json` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite_json(suite), indent=1, default=str) + "\n", "utf-8")
    return path


def write_junit(suite: SuiteResult, path: Path) -> Path:
    """Write JUnit XML: a testsuite per scenario file, a testcase per scenario."""
    root = ET.Element("testsuites", name="bwsim", time=f"{suite.duration_ms / 1000:.3f}")
    by_file: dict[str, list[ScenarioResult]] = {}
    for r in suite.results:
        by_file.setdefault(str(r.scenario.path), []).append(r)
    for file, results in by_file.items():
        node = ET.SubElement(
            root,
            "testsuite",
            name=Path(file).stem,
            file=file,
            tests=str(len(results)),
            failures=str(sum(r.status == "failed" for r in results)),
            errors=str(sum(r.status == "error" for r in results)),
            skipped=str(sum(r.status in ("skipped", "unreliable") for r in results)),
            time=f"{sum(r.duration_ms for r in results) / 1000:.3f}",
        )
        for r in results:
            case = ET.SubElement(
                node,
                "testcase",
                classname=f"bwsim.{Path(file).stem}",
                name=r.scenario.name,
                file=file,
                line=str(r.scenario.line),
                time=f"{r.duration_ms / 1000:.3f}",
            )
            if r.status == "failed":
                failure = ET.SubElement(case, "failure", message=r.detail)
                failure.text = _failure_text(r)
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=r.detail)
            elif r.status == "unreliable":
                ET.SubElement(case, "skipped", message=f"unreliable: {r.detail}")
            elif r.status == "error":
                error = ET.SubElement(
                    case, "error", message=r.detail, type=(r.error or {}).get("type", "")
                )
                error.text = (r.error or {}).get("traceback", "")
            files = {**r.artifacts, **({"bot_log": r.bot_log} if r.bot_log else {})}
            if files:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f"{k}: {v}" for k, v in files.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _hang(text: str, indent: str) -> str:
    """``text`` with every line after the first indented (a log tail under its reason)."""
    return text.replace("\n", "\n" + indent)


def _failure_text(r: ScenarioResult) -> str:
    lines = [f"{r.scenario.where}: {r.scenario.name}"]
    problems = [f"  FAIL {_hang(p, '       ')}" for p in r.problems]
    if r.bot_exited:  # the cause first; what the dead bot then failed follows from it
        lines.extend(problems[:1])
        problems = problems[1:]
    for v in r.verdicts:
        mark = "ok  " if v.passed else "FAIL"
        lines.append(f"  {mark} line {v.expectation.line}: {v.expectation.describe()}: {v.detail}")
    lines.extend(problems)
    return "\n".join(lines)


def progress_line(n: int, total: int, r: ScenarioResult) -> str:
    """One line as a scenario finishes: ``[ 3/24] PASS conversation/greeting  4.1 s``."""
    width = len(str(total))
    head = f"[{n:>{width}}/{total}] {_VERDICT[r.status]} {r.scenario.id}"
    tail = f"  {r.duration_ms / 1000:.1f} s" if r.status != "skipped" else ""
    if r.status != "passed":
        tail += f"  {_hang(r.detail, '    ')}"
    return head + tail


def bot_lines(suite: SuiteResult) -> list[str]:
    """Where each bot's log is, and which bot exited mid-suite: for the end of the table."""
    started = [b for b in suite.bots if b.log is not None]
    if not started:
        return []
    lines = ["", "Bot logs:"]
    for b in started:
        env = " ".join(f"{k}={v}" for k, v in b.bot_env.items())
        lines.append(f"  {b.log}" + (f"  ({env})" if env else ""))
        if b.exit_code is not None:
            lines.append(f"    {b.exit}")
    return lines


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def console_table(suite: SuiteResult, *, width: int | None = None) -> str:
    """The end-of-run table: scenario, verdict, key timings, reason; then the totals.

    Timings are measured on the audio: the first bot audio after the stream opened, the
    median response to the caller's turns, the first barge-in's clear latency.
    """
    cols = width or shutil.get_terminal_size((120, 24)).columns
    head = ("scenario", "verdict", "1st audio", "response", "clear", "time", "reason")
    rows: list[Sequence[str]] = [head]
    for r in suite.results:
        rows.append(
            (
                r.scenario.id,
                _VERDICT[r.status],
                _ms(r.timings.get("first_audio_ms")),
                _ms(r.timings.get("response_p50_ms")),
                _ms(r.timings.get("clear_ms")),
                "—" if r.status == "skipped" else f"{r.duration_ms / 1000:.1f} s",
                "" if r.passed else r.detail.partition("\n")[0],
            )
        )
    n_cols = len(head) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(n_cols)]
    room = max(20, cols - sum(widths) - 2 * n_cols)
    lines = []
    for n, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(n_cols)]
        lines.append("  ".join([*cells, _fit(row[n_cols], room)]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in [*widths, min(room, 40)]))
    failed = [r for r in suite.results if r.status in ("failed", "error")]
    if failed:
        lines.append("")
        lines.append("Why they failed:")
        for r in failed:
            lines.append(_failure_text(r))
            if r.artifacts.get("timeline_png"):
                lines.append(f"  timeline: {r.artifacts['timeline_png']}")
            if r.artifacts.get("traceback"):
                lines.append(f"  traceback: {r.artifacts['traceback']}")
    unsure = [r for r in suite.results if r.status == "unreliable"]
    if unsure:
        lines.extend(["", "Unsure (a time budget missed twice on a loaded machine):"])
        lines.extend(f"  {r.scenario.where}: {r.scenario.name}: {r.detail}" for r in unsure)
    lines.extend(bot_lines(suite))
    lines.append("")
    errors = suite.count("error")
    lines.append(
        f"{suite.count('passed')} passed, {suite.count('failed')} failed, "
        + (f"{len(unsure)} unsure, " if unsure else "")
        + (f"{errors} could not be run (bwsim error), " if errors else "")
        + f"{suite.count('skipped')} skipped in {suite.duration_ms / 1000:.1f} s "
        f"({suite.target})" + (" — interrupted" if suite.interrupted else "")
    )
    return "\n".join(lines)
