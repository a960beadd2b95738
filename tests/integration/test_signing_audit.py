"""``webhook.signature``: the audit's signing check, run only when asked (``--signing-secret``).

Against ``tests/bots/signing_bot.py`` (a bot behind a signing gateway, sha512 with a
timestamp) each audit runs that one check; the three audits run concurrently.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from simulator.audit import AuditReport, run_audit
from simulator.protocol.webhook_signing import Signing
from simulator.runner.targets import AppTarget
from tests.bots.signing_bot import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.integration.audit_helpers import ENV, FAST

SECRET = "audit-signing-secret-0123"


async def _audit(path: str, secret: str) -> AuditReport:
    signing = Signing(secret, SIGNATURE_HEADER, "sha512", timestamp_header=TIMESTAMP_HEADER)
    config = replace(FAST, only=("webhook.signature",), webhook_path=path, signing=signing)
    env = {**ENV, "SIGNING_BOT_SECRET": SECRET}
    return await run_audit(AppTarget("tests.bots.signing_bot:app"), config, bot_env=env)


async def test_the_signing_check_passes_a_verifying_bot_and_fails_the_others() -> None:
    """Verifying bot: passed; a bot that checks nothing, or a wrong secret: failed, saying why."""
    verifying, plain, mismatched = await asyncio.gather(
        _audit("/voice", SECRET), _audit("/plain", SECRET), _audit("/voice", "another-secret-9876")
    )
    (good,) = verifying.results
    assert good.status == "passed", good.verdict.detail
    assert "wrong, missing and stale signatures were refused" in good.verdict.detail
    (accepted,) = plain.results
    assert accepted.status == "failed"
    assert "a webhook with a wrong signature was answered 200" in accepted.verdict.detail
    problems = accepted.verdict.evidence["problems"]
    assert [p.split(" signature")[0] for p in problems] == [
        f"a webhook with a {mode}" for mode in ("wrong", "missing", "stale")
    ]
    (refused,) = mismatched.results
    assert refused.status == "failed"
    assert "the correctly signed webhook was answered 403" in refused.verdict.detail


async def test_without_signing_the_check_is_skipped_and_says_how_to_run_it() -> None:
    """No --signing-secret: webhook.signature is skipped, never run against a plain bot."""
    report = await run_audit(
        AppTarget("tests.bots.signing_bot:app"),
        replace(FAST, only=("webhook.signature",), webhook_path="/plain"),
        bot_env={**ENV, "SIGNING_BOT_SECRET": SECRET},
    )
    (result,) = report.results
    assert result.status == "skipped"
    assert "--signing-secret" in result.verdict.detail
