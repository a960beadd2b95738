"""The audit's catalogue, its selection, and the report: table, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import simulator.audit
from simulator.audit import (
    CHECKS,
    AuditConfig,
    AuditReport,
    CheckResult,
    Verdict,
    format_table,
    select,
    write_json,
)
from simulator.audit.model import (
    error,
    failed,
    inconclusive,
    passed,
    skipped,
    unreliable,
    warned,
)
from simulator.errors import ConfigError

ISSUE_IDS = [
    "webhook.auth",
    "webhook.creds_unset",
    "webhook.bad_body",
    "webhook.signature",
    "bxml.stream",
    "token.fresh",
    "ws.unknown_token",
    "ws.token_reuse",
    "ws.token_expiry",
    "ws.wire_forms",
    "spoof.start_ids",
    "spoof.interleaved_webhooks",
    "audio.greeting",
    "audio.clear_on_barge_in",
    "audio.valid_output",
    "hangup.on_stream_loss",
    "hangup.caller_left",
    "hangup.on_silence",
    "transfer.request",
    "transfer.after",
    "fuzz.start_metadata",
]


def test_the_catalogue_has_every_check_of_the_issue_with_its_stable_id() -> None:
    """The ids are the issue's, in its order, once each."""
    assert [c.id for c in CHECKS] == ISSUE_IDS


def test_the_package_exports_what_it_lists() -> None:
    """simulator.audit's __all__ names exist, and its public names are listed."""
    import types

    assert all(hasattr(simulator.audit, name) for name in simulator.audit.__all__)
    public = {
        n
        for n, v in vars(simulator.audit).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(simulator.audit.__all__)


def test_selection_runs_everything_but_the_slow_and_signing_checks_by_default() -> None:
    """Without --slow and --signing-secret, those two are reported skipped with how to run them."""
    selection = select()
    asked = ("hangup.on_silence", "webhook.signature")
    assert [c.id for c in selection.run] == [i for i in ISSUE_IDS if i not in asked]
    assert {spec.id: reason for spec, reason in selection.skip} == {
        "hangup.on_silence": selection.skip[0][1],
        "webhook.signature": selection.skip[1][1],
    }
    assert "--slow" in selection.skip[0][1]
    assert "--signing-secret" in selection.skip[1][1]
    signing = select(signing=True, slow=True)
    assert [c.id for c in signing.run] == ISSUE_IDS


@pytest.mark.parametrize(
    ("only", "slow", "expected"),
    [
        (("webhook",), False, ["webhook.auth", "webhook.creds_unset", "webhook.bad_body"]),
        (("ws.token_reuse", "bxml.stream"), False, ["bxml.stream", "ws.token_reuse"]),
        (("hangup.on_silence",), True, ["hangup.on_silence"]),
        (("hangup.on_silence",), False, []),
    ],
)
def test_only_selects_ids_and_areas(only: tuple[str, ...], slow: bool, expected: list[str]) -> None:
    """--only takes ids or areas, in catalogue order; a slow one needs --slow to run."""
    assert [c.id for c in select(only, slow=slow).run] == expected


def test_an_unknown_check_is_a_config_error_listing_the_checks() -> None:
    """A typo in --only is exit 2, naming it and the ids to choose from."""
    with pytest.raises(ConfigError, match=r"no such check.*webhook\.auth"):
        select(("webhook.oauth",))


def test_waiting_checks_get_their_wait_added_to_their_time_limit() -> None:
    """ws.token_expiry and hangup.on_silence may run past the default limit by their wait."""
    config = AuditConfig(token_ttl_s=60, token_margin_s=3, check_timeout_s=100)
    spec = {c.id: c for c in CHECKS}
    assert spec["ws.token_expiry"].time_limit(config) == 163
    assert spec["webhook.auth"].time_limit(config) == 100


def _report(*verdicts, strict: bool = False) -> AuditReport:  # type: ignore[no-untyped-def]
    """A report with one result per verdict."""
    results = tuple(
        CheckResult(f"area.check{i}", f"title {i}", v, 1234.5) for i, v in enumerate(verdicts)
    )
    return AuditReport("--app bot.app:app", results, 12.34, {"only": []}, strict=strict)


@pytest.mark.parametrize(
    ("verdict", "plain", "strict"),
    [
        (warned("harden"), 0, 1),
        (inconclusive("saw nothing"), 0, 1),
        (unreliable("loaded"), 0, 1),
        (skipped("n/a"), 0, 0),
    ],
    ids=["a-warning", "inconclusive", "unreliable", "a-skip"],
)
def test_only_strict_fails_warnings_inconclusive_and_unreliable(
    verdict: Verdict, plain: int, strict: int
) -> None:
    """Warnings, inconclusive and unreliable verdicts exit 0, and 1 under --strict."""
    assert _report(passed("ok"), verdict).exit_code == plain
    assert _report(passed("ok"), verdict, strict=True).exit_code == strict


def test_the_table_lists_failures_warnings_and_inconclusive_checks_by_id() -> None:
    """Under the rows, the ids of failed, warned and inconclusive checks are listed apart."""
    text = format_table(
        _report(failed("bad"), warned("harden"), inconclusive("none"), passed("ok"))
    )
    lines = text.splitlines()
    assert any(line.split()[:2] == ["WARN", "area.check1"] for line in lines)
    assert any(line.split()[:2] == ["INCONC", "area.check2"] for line in lines)
    assert any(line.startswith("bwsim audit: failed") and "area.check0" in line for line in lines)
    assert any(line.startswith("bwsim audit: warnings") and "area.check1" in line for line in lines)
    inconclusive_line = next(line for line in lines if line.startswith("bwsim audit: inconclusive"))
    assert "area.check2" in inconclusive_line
    assert "area.check3" not in text.split("bwsim audit: failed")[1]
    assert lines[-1].endswith("(exit 1)")


@pytest.mark.parametrize(
    ("verdicts", "code"),
    [
        ([passed("ok")], 0),
        ([passed("ok"), skipped("n/a")], 0),
        ([passed("ok"), failed("bad")], 1),
        ([failed("bad"), error("broke")], 2),
        ([], 0),
    ],
    ids=["all-passed", "a-skip-is-not-a-failure", "a-failure", "an-error-wins", "nothing"],
)
def test_exit_codes_follow_the_design(verdicts: list, code: int) -> None:  # type: ignore[type-arg]
    """0 all passed (skips allowed), 1 a check failed, 2 a check could not be made."""
    assert _report(*verdicts).exit_code == code


def test_the_json_document_is_schema_1_with_every_check_and_its_evidence(tmp_path: Path) -> None:
    """Each check has id, passed, status, detail and evidence; a skip is never passed."""
    report = _report(
        passed("fine", call_id="c-1"), skipped("cannot apply"), failed("broken", x=[1])
    )
    path = tmp_path / "out" / "audit.json"
    write_json(report, path)
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1
    assert doc["exit_code"] == 1
    assert doc["summary"] == {
        "passed": 1,
        "failed": 1,
        "warned": 0,
        "inconclusive": 0,
        "unreliable": 0,
        "skipped": 1,
        "error": 0,
    }
    assert [c["passed"] for c in doc["checks"]] == [True, False, False]
    assert [c["status"] for c in doc["checks"]] == ["passed", "skipped", "failed"]
    assert doc["checks"][0]["evidence"] == {"call_id": "c-1"}
    assert doc["checks"][2]["detail"] == "broken"
    assert set(doc["checks"][0]) >= {"id", "passed", "detail", "evidence", "duration_ms"}


def test_the_table_shows_each_result_its_time_and_its_detail_wrapped() -> None:
    """One row per check (PASS/FAIL/SKIP/ERROR), the detail under it, then the summary."""
    long = "the bot did something wrong " * 8
    text = format_table(_report(passed("fine"), failed(long), skipped("n/a"), error("x")), width=60)
    lines = text.splitlines()
    assert lines[0] == "bwsim audit: --app bot.app:app (4 checks, 12.3 s)"
    assert any(line.split()[:2] == ["FAIL", "area.check1"] for line in lines)
    assert any(line.split()[:3] == ["SKIP", "area.check2", "-"] for line in lines)
    assert max(len(line) for line in lines[2:-1]) <= 60
    assert lines[-1] == "bwsim audit: 1 passed, 1 failed, 1 skipped, 1 error (exit 2)"
