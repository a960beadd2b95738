"""The audit's console table and its ``--json`` file. Pure formatting, no I/O but the write.

The table has one row per check: result, id, time, and the detail sentence wrapped
under it, so a failure reads as what went wrong and what to do. The JSON document is
:meth:`~simulator.audit.model.AuditReport.to_dict` (``"schema": 1``).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Final

from simulator.audit.model import STATUSES, AuditReport, Status

__all__ = ["LABELS", "format_table", "write_json"]

LABELS: Final[dict[Status, str]] = {
    "passed": "PASS",
    "failed": "FAIL",
    "warned": "WARN",
    "inconclusive": "INCONC",
    "unreliable": "UNSURE",
    "skipped": "SKIP",
    "error": "ERROR",
}


_LISTED: Final[tuple[tuple[Status, str], ...]] = (
    ("failed", "failed (breaks Bandwidth's contract, opens a call to others, or loses one)"),
    ("warned", "warnings (hardening beyond the contract; advice in each row)"),
    ("inconclusive", "inconclusive (nothing observed could decide them)"),
    ("unreliable", "unreliable (a budget missed twice on a loaded machine)"),
)


def format_table(report: AuditReport, width: int = 100) -> str:
    """The console report: a header, one row per check, the summary line."""
    id_width = max((len(r.id) for r in report.results), default=10)
    lines = [
        f"bwsim audit: {report.target} ({len(report.results)} checks, {report.duration_s:.1f} s)"
    ]
    lines.append(f"  {'RESULT':<6}  {'CHECK':<{id_width}}  {'TIME':>7}")
    indent = " " * 10
    for r in report.results:
        seconds = f"{r.duration_ms / 1000:.1f} s" if r.status != "skipped" else "-"
        lines.append(f"  {LABELS[r.status]:<6}  {r.id:<{id_width}}  {seconds:>7}")
        detail = textwrap.fill(
            r.verdict.detail, width=max(40, width), initial_indent=indent, subsequent_indent=indent
        )
        lines.append(detail)
    counts = ", ".join(f"{report.count(s)} {s}" for s in STATUSES if report.count(s))
    lines.extend(f"bwsim audit: bot log {log}" for log in report.bot_logs)
    for status, what in _LISTED:
        ids = report.ids(status)
        if ids:
            later = status != "failed" and not report.strict
            strict = " (they fail the audit only under --strict)" if later else ""
            listed = f"bwsim audit: {what}: {', '.join(ids)}{strict}"
            lines.append(textwrap.fill(listed, width=max(40, width), subsequent_indent=indent))
    lines.append(f"bwsim audit: {counts or 'no checks'} (exit {report.exit_code})")
    return "\n".join(lines)


def write_json(report: AuditReport, path: Path) -> None:
    """Write the ``--json`` document (``"schema": 1``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.to_dict(), indent=1, default=str, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
