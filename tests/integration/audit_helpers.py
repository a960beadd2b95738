"""Running the audit from tests: short lifetimes and lines, so a run takes seconds.

The bots get a four-second token lifetime (``BOT_TOKEN_TTL_S``: long enough for a
reuse to come well inside it on a loaded machine, or ``ws.token_reuse`` cannot tell a
refused reuse from expiry and says so) and a short idle timeout,
and the audit is told the same (``token_ttl_s``, ``idle_timeout_s``), so
``ws.token_expiry`` and ``hangup.on_silence`` wait seconds, not minutes. The reference
bot says shorter lines (``BOT_SCRIPT``; its greeting stays long enough to talk over).
Every budget keeps its product default: the tests judge the bots by the rules users get.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from simulator.audit import AuditConfig, AuditReport, run_audit
from simulator.runner.targets import AppTarget
from tests.integration.bot_under_test import short_script

TTL_S = 4.0
IDLE_S = 5.0
"""Short, so the silent ``--slow`` calls take seconds; not shorter, or a reply slowed by a
loaded machine lets the bot's idle timeout end the conversation call itself (which
``bxml.stream`` rightly reports as a call that did not stay up)."""
FAST = AuditConfig(
    token_ttl_s=TTL_S,
    token_margin_s=1.0,
    idle_timeout_s=IDLE_S,
    idle_margin_s=6.0,
    settle_s=1.5,
    fuzz_examples=6,
)
_SCRIPT_DIR = Path(tempfile.mkdtemp(prefix="bwsim-audit-script-"))
atexit.register(shutil.rmtree, _SCRIPT_DIR, ignore_errors=True)
SCRIPT = short_script(
    _SCRIPT_DIR,
    "Hello.",
    greeting="Hello, thanks for calling the Example Company. How can I help?",
    replies=["Yes, I hear you."],
    transfer_line="One moment please.",
    farewell="Goodbye.",
)
REFERENCE = "bot.app:app"
SPEAKER = "tests.bots.speaker_bot:app"
ENV = {
    "BOT_TOKEN_TTL_S": str(TTL_S),
    "BOT_IDLE_TIMEOUT_S": str(IDLE_S),
    "SPEAKER_IDLE_S": str(IDLE_S),
}


async def audit(
    app: str,
    *only: str,
    env: dict[str, str] | None = None,
    slow: bool = False,
    max_calls: int = FAST.max_calls,
    config: dict[str, float] | None = None,
) -> AuditReport:
    """Audit ``app`` (``MODULE:ATTR``) with the fast settings (or ``config``), only ``only``."""
    settings = replace(
        FAST,
        only=tuple(only),
        slow=slow,
        max_calls=max_calls,
        **cast("dict[str, Any]", config or {}),
    )
    return await run_audit(AppTarget(app), settings, bot_env={**ENV, **(env or {})})


def statuses(report: AuditReport) -> dict[str, str]:
    """Check id → status, for assertion messages."""
    return {r.id: r.status for r in report.results}


def explain(report: AuditReport) -> str:
    """Every check's status and detail, for assertion messages."""
    return "\n".join(f"{r.id}: {r.status}: {r.verdict.detail}" for r in report.results)
