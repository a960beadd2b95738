"""Every failure branch of every audit check fires for a bot broken that way, and says so.

Each bot of :data:`~tests.integration.audit_branches.BOTS` is the speaker bot with a few
flaws aimed at different checks (``tests/bots/branch_bots.py``); it is audited with only
the checks its branches belong to, all bots side by side, and each branch's check must
end ``failed`` (or ``warned``) with the branch's phrase in its detail: the reason, not
just the status. Branches shown elsewhere name their test in the table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simulator.audit import CHECKS, AuditReport
from tests.bots.branch_bots import FLAWS
from tests.integration.audit_branches import BOTS, BRANCHES, CONTROLS, Bot, Branch
from tests.integration.audit_helpers import audit, explain

pytestmark = pytest.mark.timeout(300)

APP = "tests.bots.branch_bots:app"
ROOT = Path(__file__).resolve().parents[2]
_REPORTS: dict[str, AuditReport] = {}


def _checks(bot: str) -> list[str]:
    order = [c.id for c in CHECKS]
    return sorted({b.check for b in BRANCHES if b.bot == bot}, key=order.index)


async def _audit(spec: Bot, checks: list[str]) -> AuditReport:
    env = {"BRANCH_FLAWS": ",".join(spec.flaws)}
    return await audit(APP, *checks, env=env, slow=spec.slow)


async def report_for(bot: str) -> AuditReport:
    """The bot's report; the first test to ask audits every bot (and control) at once."""
    if not _REPORTS:
        runs = {name: (spec, _checks(name)) for name, spec in BOTS.items()}
        runs |= {name: (spec, list(checks)) for name, (spec, checks) in CONTROLS.items()}
        reports = await asyncio.gather(*(_audit(*run) for run in runs.values()))
        _REPORTS.update(zip(runs, reports, strict=True))
    return _REPORTS[bot]


def test_every_bot_is_used_and_every_branch_is_shown_or_explained() -> None:
    """Each bot makes some branch fire; each branch has a bot, a test, or a reason."""
    assert set(BOTS) == {b.bot for b in BRANCHES if b.bot}
    flaws = {f for spec in BOTS.values() for f in spec.flaws}
    flaws |= {f for spec, _ in CONTROLS.values() for f in spec.flaws}
    assert flaws <= set(FLAWS), flaws - set(FLAWS)
    for b in BRANCHES:
        assert [b.bot, b.shown_by, b.why].count(None) == 2, b
        assert "{}" not in b.phrase or b.why, b


def test_every_branch_shown_elsewhere_names_a_test_that_exists() -> None:
    """A ``shown_by`` names a test file, a test function in it, and its case if any."""
    for b in BRANCHES:
        if b.shown_by is None:
            continue
        path, _, test = b.shown_by.partition("::")
        source = (ROOT / path).read_text()
        if test:
            name, _, case = test.partition("[")
            assert f"def {name}(" in source, b.shown_by
            assert not case or f'"{case.rstrip("]")}"' in source, b.shown_by


@pytest.mark.parametrize(
    "branch",
    [pytest.param(b, id=f"{b.check}:{b.phrase[:40]}") for b in BRANCHES if b.bot],
)
async def test_the_branch_fires_for_its_bot_with_its_reason(branch: Branch) -> None:
    """The check ends failed (or warned) and its detail names this branch's reason."""
    assert branch.bot is not None
    report = await report_for(branch.bot)
    result = report.result(branch.check)
    expected = {branch.status, "unreliable"} if branch.budget else {branch.status}
    assert result.status in expected, explain(report)
    if branch.secondary:
        problems = result.verdict.evidence["problems"]
        assert any(branch.phrase in p for p in problems[1:]), problems
    else:
        assert branch.phrase in result.verdict.detail, explain(report)


@pytest.mark.parametrize("bot", list(CONTROLS))
async def test_a_bot_ending_its_calls_a_valid_way_passes(bot: str) -> None:
    """A bot that ends its call with a PUT of <Hangup/> BXML passes the hang-up checks."""
    report = await report_for(bot)
    for check in CONTROLS[bot][1]:
        assert report.result(check).status == "passed", explain(report)


async def test_the_problems_a_detail_only_counts_are_listed_in_its_evidence() -> None:
    """'(and 3 more problems, see evidence)': the evidence's problems names all four."""
    result = (await report_for("forbids")).result("webhook.auth")
    assert "(and 3 more problems, see evidence)" in result.verdict.detail
    problems = result.verdict.evidence["problems"]
    assert [p.split(" was answered ")[1] for p in problems] == ["403"] * 4, problems
    assert problems[0] in result.verdict.detail
