"""The pure parts of ``bwsim load --processes``: the split, the merge, the timing verdict."""

from __future__ import annotations

from array import array

import pytest

from simulator.judge.metrics import CallMetrics, summarize
from simulator.protocol.ids import CALL_ID_RE
from simulator.runner.load import (
    CPU_SATURATED_CORES,
    CallRecord,
    LoadReport,
    WorkerTiming,
    pacing_summary,
)
from simulator.runner.load_workers import call_owner, split, worker_call_ids


def _record(index: int, first_audio_ms: float, duration_ms: float) -> CallRecord:
    metrics = CallMetrics(0.0, first_audio_ms, first_audio_ms)
    return CallRecord(index, f"c-{index}", True, True, [], duration_ms, metrics)


def _timing(worker: int, lateness: list[float], cpu_s: float = 1.0) -> WorkerTiming:
    return WorkerTiming(worker, 1, array("d", lateness), cpu_s=cpu_s, wall_s=10.0)


def _report(records: list[CallRecord], workers: list[WorkerTiming]) -> LoadReport:
    return LoadReport(len(records), 1, records, 10.0, [], workers)


def test_split_is_as_even_as_possible_and_adds_up() -> None:
    """Calls and concurrency split into shares differing by at most one, larger first."""
    assert split(10, 3) == [4, 3, 3]
    assert split(4, 2) == [2, 2]
    assert split(1, 1) == [1]
    assert split(2, 4) == [1, 1, 0, 0]
    for total in range(50):
        for parts in range(1, 7):
            shares = split(total, parts)
            assert sum(shares) == total
            assert max(shares) - min(shares) <= 1
    with pytest.raises(ValueError, match="at least 1"):
        split(3, 0)


def test_merging_two_workers_gives_the_percentiles_of_one_list() -> None:
    """Merged reports rank the raw samples together, never averaging percentiles."""
    # Worker 1 is punctual, worker 2 is late: the percentiles of percentiles would differ.
    late_1 = [0.1 * i for i in range(1, 200)]
    late_2 = [3.0 + 0.05 * i for i in range(1, 51)]
    a = _report([_record(1, 100.0, 5000.0), _record(3, 300.0, 5200.0)], [_timing(1, late_1)])
    b = _report([_record(2, 200.0, 5100.0)], [_timing(2, late_2)])
    merged = LoadReport.merge([b, a], calls=3, concurrency=2, wall_s=12.0)
    assert [r.index for r in merged.records] == [1, 2, 3]
    assert [w.worker for w in merged.workers] == [1, 2]
    assert merged.pacing() == pacing_summary(late_1 + late_2)
    assert merged.pacing()["frames"] == 249
    assert merged.latencies()["first_audio_ms"] == summarize([100.0, 200.0, 300.0])
    assert merged.latencies()["call_duration_ms"] == summarize([5000.0, 5100.0, 5200.0])
    assert merged.ok
    # The nearest-rank p99 of the joined list, not the mean of the two workers' p99.
    p99s = [pacing_summary(late_1)["p99_ms"], pacing_summary(late_2)["p99_ms"]]
    assert merged.pacing()["p99_ms"] != pytest.approx(sum(p99s) / 2)


def test_the_verdict_is_trustworthy_within_budget_and_names_the_overloaded_worker() -> None:
    """Pacing p99 within 5 ms and no saturated worker: trustworthy; else the worker is named."""
    calm = _report([_record(1, 100.0, 1.0)], [_timing(1, [0.2] * 100), _timing(2, [0.3] * 100)])
    assert calm.trustworthy
    assert calm.verdict().startswith("timing: trustworthy")

    late = _report([_record(1, 100.0, 1.0)], [_timing(1, [0.2] * 100), _timing(2, [40.0] * 100)])
    assert not late.trustworthy
    verdict = late.verdict()
    assert "NOT trustworthy" in verdict
    assert "cannot be trusted" in verdict
    assert "worker 2: its frames left p99 40.0 ms late" in verdict
    assert "worker 1" not in verdict

    busy = _report(
        [_record(1, 100.0, 1.0)],
        [_timing(1, [0.2] * 100), _timing(2, [0.2] * 100, cpu_s=10.0 * CPU_SATURATED_CORES)],
    )
    assert not busy.trustworthy
    assert "worker 2: it used 0.95 of a core (CPU-saturated)" in busy.verdict()
    assert busy.ok  # the calls passed: timing health is its own verdict


def test_a_worker_that_never_reported_fails_the_run_by_number() -> None:
    """A crashed worker is listed with its error, and its missing calls fail the run."""
    crashed = WorkerTiming(2, 1, array("d"), 0.0, 0.0, error="crashed (killed by SIGKILL)")
    part = _report([_record(1, 100.0, 1.0)], [_timing(1, [0.2] * 10)])
    merged = LoadReport.merge([part], calls=2, concurrency=2, wall_s=3.0, failed=[crashed])
    assert not merged.ok
    assert [w.worker for w in merged.failed_workers] == [2]
    assert "worker 2" in merged.table()
    assert "FAILED: crashed (killed by SIGKILL)" in merged.table()
    assert merged.to_dict()["timing"]["workers"][1]["error"] == "crashed (killed by SIGKILL)"


def test_worker_call_ids_have_bandwidths_shape_and_name_their_worker() -> None:
    """Each worker's call ids are valid Bandwidth ids the router maps back to that worker."""
    for worker in (1, 2, 17, 255):
        call_id = worker_call_ids(worker)()
        assert CALL_ID_RE.fullmatch(call_id), call_id
        assert call_owner(call_id) == worker
    assert call_owner(None) is None
    assert call_owner("not-a-call") is None
    with pytest.raises(ValueError, match="1 to 255"):
        worker_call_ids(0)
