"""Every audit check catches a bot that breaks its rule, and only for that reason.

Each case is a deliberately broken bot, a mistake real bots make: most are the speaker
bot (``tests/bots/speaker_bot.py``, no Pipecat) with one ``SPEAKER_FLAW``; some are
copies of the reference bot broken through its seams (``tests/bots/audit_bots.py``), and
one is the Pipecat guide's own pattern (``tests/bots/media_bot.py``: the serializer's
hang-up only). The audit runs the check the flaw is for and a *control* check the same
bot passes, so a case proves the check is specific: it fails for the reason in its
detail sentence, not because the bot is broken everywhere.

Cost: each case is its own harness and bot process. The cases of one ``group`` are
audited side by side (the first selected case of a group runs them all, the others read
their report), which keeps the module to about a minute on two cores; one xdist worker
runs the whole module (``tests/xdist_scopes.py``), so a second never audits a group
again. Cases that add a second bot for a check already covered are marked ``e2e``.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass

import pytest

from simulator.audit import CHECKS, AuditReport
from tests.bots.speaker_bot import FLAWS
from tests.integration.audit_helpers import SPEAKER, audit, explain

pytestmark = pytest.mark.timeout(110)


@dataclass(frozen=True)
class Case:
    name: str
    app: str
    check: str
    reason: str
    """A regular expression the failed check's detail must match."""
    control: str
    group: str
    env: tuple[tuple[str, str], ...] = ()
    slow: bool = False
    e2e: bool = False
    status: str = "failed"
    """``warned`` for a hardening finding (``webhook.bad_body``)."""


def speaker(
    flaw: str,
    reason: str,
    control: str,
    group: str,
    *,
    slow: bool = False,
    e2e: bool = False,
    status: str = "failed",
    **env: str,
) -> Case:
    """The speaker bot with one flaw, caught by the check ``FLAWS`` names for it."""
    pairs = (("SPEAKER_FLAW", flaw), *env.items())
    return Case(flaw, SPEAKER, FLAWS[flaw], reason, control, group, pairs, slow, e2e, status)


CASES = [
    speaker("any-scheme", r"under the Bearer scheme was answered 200", "token.fresh", "door"),
    speaker("open-when-unconfigured", r"was accepted \(200", "webhook.auth", "door"),
    speaker(
        "crash-on-bad-body",
        r"made the bot answer 500.*hardening",
        "webhook.auth",
        "door",
        status="warned",
    ),
    speaker("no-keepalive", r"nothing follows <StartStream>", "webhook.auth", "door"),
    speaker("call-derived-token", r"got the same stream destination", "ws.token_reuse", "door"),
    Case(
        "ref-accepts-unsafe-ids",
        "tests.bots.audit_bots:accepts_unsafe_ids",
        "webhook.bad_body",
        r"a callId with '/\.\.' was accepted \(200 with BXML\)",
        "webhook.auth",
        "door",
        status="warned",
    ),
    speaker(
        "reusable-tokens", r"token again .* was not refused \(accepted", "ws.unknown_token", "door"
    ),
    Case(
        "ref-ignores-token-value",
        "tests.bots.audit_bots:ignores_token_value",
        "ws.unknown_token",
        r"random token of the genuine one's shape was not refused",
        "webhook.auth",
        "door",
    ),
    Case(
        "ref-eternal-tokens",
        "tests.bots.audit_bots:eternal_tokens",
        "ws.token_expiry",
        r"after it was minted was not refused",
        "ws.unknown_token",
        "door",
    ),
    speaker("start-ids", r"went to the victim of the call with", "webhook.auth", "calls"),
    speaker(
        "current-call-global",
        r"went to the call whose webhook came in between",
        "token.fresh",
        "calls",
    ),
    # Its idle timer runs while it waits to greet: give it the default one.
    speaker(
        "late-greeting", r"over the 3000 ms budget", "webhook.auth", "media", SPEAKER_IDLE_S="300"
    ),
    speaker("no-clear", r"no clear came within", "webhook.auth", "media"),
    speaker("clear-keeps-talking", r"sent clear .* but its audio went on", "webhook.auth", "media"),
    speaker("bad-frame", r"invalid frame\(s\), first bad-content-type", "audio.greeting", "media"),
    speaker(
        "one-wire-form",
        r"with the documented form .* the bot closed the socket \(1011\) without speaking",
        "audio.greeting",
        "media",
        status="warned",
    ),
    Case(
        "guide-serializer-hangup-only",
        "tests.bots.media_bot:app",
        "hangup.on_stream_loss",
        r"orphaned leg",
        "webhook.auth",
        "calls",
    ),
    speaker("single-session", r"did not serve a new call", "bxml.stream", "calls"),
    speaker("no-idle-hangup", r"never ended the call", "webhook.auth", "calls", slow=True),
    speaker("response-root-transfer", r"not a <Bxml> document", "webhook.auth", "media"),
    speaker("retries-404", r"retrying its 404", "transfer.request", "media"),
    speaker("adopts-second-start", r"request\(s\) for other calls", "ws.token_reuse", "media"),
    # Second bots for checks already covered above: the nightly end-to-end run.
    Case(
        "ref-trusts-start-ids",
        "tests.bots.audit_bots:trusts_start_ids",
        "spoof.start_ids",
        r"went to the victim of the call with",
        "webhook.auth",
        "e2e",
        e2e=True,
    ),
    Case(
        "ref-trusts-start-account",
        "tests.bots.audit_bots:trusts_start_account",
        "spoof.start_ids",
        r"went to account \d+ \(the forged one\)",
        "webhook.auth",
        "e2e",
        e2e=True,
    ),
    Case(
        "ref-accepts-when-unconfigured",
        "tests.bots.audit_bots:accepts_when_unconfigured",
        "webhook.creds_unset",
        r"empty username and password was accepted",
        "webhook.auth",
        "e2e",
        e2e=True,
    ),
    speaker("no-hangup-on-drop", r"orphaned leg", "webhook.auth", "e2e", e2e=True),
]
_REPORTS: dict[str, AuditReport] = {}


async def _audit_case(case: Case) -> AuditReport:
    media_dir = tempfile.mkdtemp(prefix="bwsim-media-bot-")
    env = {**dict(case.env), "MEDIA_BOT_DIR": media_dir}
    return await audit(case.app, case.check, case.control, env=env, slow=case.slow)


async def report_for(case: Case, request: pytest.FixtureRequest) -> AuditReport:
    """The case's report; the first selected case of a group audits the whole group."""
    if case.name not in _REPORTS:
        selected = {
            item.callspec.params["case"].name
            for item in request.session.items
            if hasattr(item, "callspec") and "case" in item.callspec.params
        }
        group = [
            c
            for c in CASES
            if c.group == case.group and c.name not in _REPORTS and c.name in selected | {case.name}
        ]
        reports = await asyncio.gather(*(_audit_case(c) for c in group))
        _REPORTS.update({c.name: r for c, r in zip(group, reports, strict=True)})
    return _REPORTS[case.name]


def test_every_check_has_a_broken_bot() -> None:
    """Every check has a deliberately broken bot it must catch in the default test run.

    The signing check runs only with a signing configuration: its broken bots are in
    tests/integration/test_signing_audit.py.
    """
    assert {c.id for c in CHECKS if not c.signing} <= {c.check for c in CASES if not c.e2e}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=[pytest.mark.e2e] if c.e2e else []) for c in CASES],
)
async def test_the_check_catches_the_broken_bot(case: Case, request: pytest.FixtureRequest) -> None:
    """The flaw's check fails (or warns) with the reason it names; the control check passes."""
    report = await report_for(case, request)
    caught, control = report.result(case.check), report.result(case.control)
    assert caught.status == case.status, explain(report)
    assert re.search(case.reason, caught.verdict.detail), caught.verdict.detail
    assert caught.verdict.evidence
    assert control.status == "passed", explain(report)
    assert report.exit_code == (1 if case.status == "failed" else 0)
