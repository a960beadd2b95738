"""Per-call bounds: the trace and the violations a call keeps, and Ctrl-C's exit code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from simulator.call import recorder as recorder_module
from simulator.call.recorder import CallClock, CallRecorder
from simulator.cli import main as main_module
from simulator.cli import run as run_module
from simulator.rest.journal import MAX_VIOLATIONS_PER_RULE, Journal


def test_the_trace_stops_at_its_cap_with_a_note(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Past MAX_TRACE_RECORDS, records are counted, and one trace-truncated note says how many."""
    monkeypatch.setattr(recorder_module, "MAX_TRACE_RECORDS", 5)
    rec = CallRecorder(CallClock(lambda: 0.0))
    for n in range(12):
        rec.log("ws-recv", n=n)
    rec.event("note", detail="after the cap")
    assert [r.get("n") for r in rec.trace[:5]] == [0, 1, 2, 3, 4]
    assert len(rec.trace) == 6
    assert rec.trace_not_kept == 8
    note = rec.trace[5]
    assert note["kind"] == "trace-truncated"
    assert note["records_not_kept"] == 8
    assert rec.first("note") is not None  # the timeline itself is not truncated
    rec.write(tmp_path)
    lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["records_not_kept"] == 8


def test_a_call_keeps_the_first_violations_of_a_kind_and_counts_the_rest() -> None:
    """Violations of one kind for one call past the cap are counted per kind, not kept."""
    journal = Journal()
    for _ in range(MAX_VIOLATIONS_PER_RULE + 7):
        journal.violation("media-bad-json", "not JSON", call_id="c-1")
    journal.violation("media-bad-base64", "bad", call_id="c-1")
    journal.violation("media-bad-json", "not JSON", call_id="c-2")
    kept = [v for v in journal.violations if v.call_id == "c-1" and v.kind == "media-bad-json"]
    assert len(kept) == MAX_VIOLATIONS_PER_RULE
    assert journal.not_kept_for("c-1") == {"media-bad-json": 7}
    assert journal.not_kept_for("c-2") == {}
    assert len(journal.violations) == MAX_VIOLATIONS_PER_RULE + 2


def test_violations_of_no_call_are_all_kept() -> None:
    """A violation that concerns no call (an unrouted request) is never dropped by the cap."""
    journal = Journal()
    for _ in range(MAX_VIOLATIONS_PER_RULE + 3):
        journal.violation("unrouted-request", "no route")
    assert len(journal.violations) == MAX_VIOLATIONS_PER_RULE + 3


def test_ctrl_c_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt during a subcommand exits 130 (interrupted), not 1 (failed)."""

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run", interrupted)
    assert main_module.main(["run"]) == main_module.EXIT_INTERRUPTED == 130
    assert "interrupted" in capsys.readouterr().err
