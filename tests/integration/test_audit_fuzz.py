"""``fuzz.start_metadata`` with the profile's example count: ``nox -s fuzz`` runs thousands.

``HYPOTHESIS_PROFILE=fuzz`` (tests/conftest.py registers the profiles) sets the count;
each example is a live socket to the reference bot with a genuine token, so the run
takes about half a second per example.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import settings

from simulator.audit import run_audit
from simulator.runner.targets import AppTarget
from tests.integration.audit_helpers import ENV, FAST, REFERENCE

EXAMPLES = settings().max_examples

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(120 + 3 * EXAMPLES)]


async def test_generated_start_frames_never_touch_another_call() -> None:
    """Thousands of generated start sequences: no foreign request, no 5xx, the bot stays up."""
    config = replace(FAST, only=("fuzz.start_metadata",), fuzz_examples=EXAMPLES)
    report = await run_audit(AppTarget(REFERENCE), config, bot_env=ENV)
    result = report.result("fuzz.start_metadata")
    assert result.status == "passed", result.verdict.detail
    assert result.verdict.evidence["examples_run"] >= EXAMPLES
