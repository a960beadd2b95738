"""The pytest plugin, tested with pytester: one bot per session, reset per test, readable failures.

Each test writes a small test suite that uses the plugin against the reference bot and
runs it in a subprocess (``runpytest_subprocess``), as a user's CI would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = f"""
import pytest
from pathlib import Path
from simulator import AppTarget

@pytest.fixture(scope="session")
def bwsim_target():
    return AppTarget("bot.app:app", cwd=Path({str(ROOT)!r}))
"""

SUITE = """
import httpx
import pytest

from simulator.errors import ExpectationFailed

SEEN = []

async def greeted(call):
    await call.wait_for("bot-speech-end", timeout_ms=10_000)
    call.hangup()

async def test_greets(bwsim):
    result = await bwsim.call(greeted, max_call_s=30)
    greeting = {"play_audio": {"after": "stream_accepted", "within_ms": 3000}}
    bwsim.expect(result, greeting, "stream_accepted")
    SEEN.append(bwsim.fake)

async def test_a_failed_expectation_lists_every_verdict(bwsim):
    result = await bwsim.call(greeted, max_call_s=30)
    bwsim.expect(result, "stream_accepted", {"clear": {"within_ms": 500}})

@pytest.mark.bwsim(auth_mode="wrong", max_call_s=10)
async def test_the_marker_sets_call_options(bwsim):
    result = await bwsim.call()
    assert result.exchange.final_status == 401
    assert bwsim.fake is SEEN[0]           # one simulator for the whole session
    assert len(bwsim.journal.entries) <= 2  # reset: nothing left from the earlier tests

async def test_a_violation_fails_the_test_that_caused_it(bwsim):
    base = bwsim._simulator.harness.api_base
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.get(base + "/api/v2/no/such/route")

@pytest.mark.bwsim_expect_violations
async def test_an_expected_violation_does_not(bwsim):
    base = bwsim._simulator.harness.api_base
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.get(base + "/api/v2/no/such/route")
"""


@pytest.mark.timeout(300)
def test_the_plugin_runs_a_users_suite(pytester: pytest.Pytester) -> None:
    """Calls pass and fail as expected, the marker applies, violations fail their own test."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bot=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=280)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 4, result.stdout.str()
    assert outcomes.get("failed") == 1
    assert outcomes.get("errors") == 1  # the violation, at the teardown of its own test
    out = result.stdout.str()
    assert "1 of 2 expectations failed for call" in out
    assert "FAIL  clear (within 500 ms): no clear within 500 ms" in out
    assert "the call's timeline:" in out
    assert "ERROR at teardown of test_a_violation_fails_the_test_that_caused_it" in out
    assert "unrouted-request" in out


def test_a_bad_expectation_is_refused_with_its_key(pytester: pytest.Pytester) -> None:
    """A typo in bwsim.expect() is an error naming the key, not a check that passes."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        test_typo="""
from simulator.errors import ScenarioError
from simulator.judge.scenario import parse_expectations
import pytest

def test_typo():
    with pytest.raises(ScenarioError, match="unknown key 'within'.*did you mean 'within_ms'"):
        parse_expectations([{"clear": {"within": 5}}], where="bwsim.expect()")
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=60)
    result.assert_outcomes(passed=1)
