"""``bwsim audit``: a security and conformance battery for any Bandwidth voice bot.

Point it at a bot bwsim did not write (``--app``, ``--cmd`` or ``--url``) and it answers,
check by check and with evidence, whether the bot is safe and correct on Bandwidth:
webhook authentication, one-time stream tokens, forged ``start`` frames, barge-in,
hang-ups, transfers, and hypothesis-generated ``start`` metadata.

Layout: :mod:`~simulator.audit.catalog` (every check and its id),
:mod:`~simulator.audit.checks` (one module per area), :mod:`~simulator.audit.runner`
(runs them concurrently against one harness), :mod:`~simulator.audit.report` (table and
JSON), and the Sans-I/O helpers the checks judge with (:mod:`~simulator.audit.tokens`,
:mod:`~simulator.audit.rules`, :mod:`~simulator.audit.evidence`,
:mod:`~simulator.audit.fuzzing`).
"""

from simulator.audit.catalog import CHECKS, CheckSpec, Selection, select
from simulator.audit.config import AuditConfig
from simulator.audit.model import AuditReport, CheckResult, Verdict
from simulator.audit.report import format_table, write_json
from simulator.audit.runner import run_audit

__all__ = [
    "CHECKS",
    "AuditConfig",
    "AuditReport",
    "CheckResult",
    "CheckSpec",
    "Selection",
    "Verdict",
    "format_table",
    "run_audit",
    "select",
    "write_json",
]
