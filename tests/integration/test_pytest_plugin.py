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
import shutil
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
    await call.wait_for("bot_speech_end", timeout_ms=10_000)
    call.hangup()

async def test_greets(bwsim):
    result = await bwsim.call(greeted, max_call_s=30)
    greeting = {"play_audio": {"after": "stream_accepted"}}
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
    assert outcomes.get("passed") == 3, result.stdout.str()
    assert outcomes.get("failed") == 2  # the failed expectation, and the violation
    assert "errors" not in outcomes
    out = result.stdout.str()
    assert "1 of 2 expectations failed for call" in out
    assert "FAIL  clear (within 500 ms): no clear within 500 ms" in out
    assert "the call's timeline:" in out
    assert "FAILED test_bot.py::test_a_violation_fails_the_test_that_caused_it" in out
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


RULE_BREAKER = f"""
import pytest
import shutil
from pathlib import Path
from simulator import AppTarget

@pytest.fixture(scope="session")
def bwsim_target():
    return AppTarget("tests.bots.raw_bot:app", cwd=Path({str(ROOT)!r}))
"""

BREAKS_A_RULE = """
import pytest

async def garbage(call):
    await call.wait_for("stream_accepted", timeout_ms=10_000)
    await call.wait_for(
        "violation", timeout_ms=10_000, where=lambda e: e.detail["rule"] == "odd-pcm-length"
    )
    call.hangup()

@pytest.mark.asyncio
async def test_the_bot_sends_malformed_frames(bwsim):
    await bwsim.call(garbage, webhook_path="/garbage", auth_mode="preemptive", max_call_s=20)
"""


@pytest.mark.timeout(120)
def test_a_bot_that_breaks_a_rule_fails_the_test_itself(pytester: pytest.Pytester) -> None:
    """The test whose bot sends malformed frames is "1 failed" naming the rule, not an error."""
    pytester.makeconftest(RULE_BREAKER)
    pytester.makepyfile(test_rules=BREAKS_A_RULE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=110)
    out = result.stdout.str()
    assert result.parseoutcomes() == {"failed": 1}, out
    assert "FAILED test_rules.py::test_the_bot_sends_malformed_frames" in out
    assert "ERROR" not in out
    assert "violation(s) during this test" in out
    assert "odd-pcm-length" in out
    assert "binary-frame" in out


@pytest.mark.timeout(120)
def test_an_expected_rule_break_passes(pytester: pytest.Pytester) -> None:
    """@pytest.mark.bwsim_expect_violations still exempts a test from its violations."""
    pytester.makeconftest(RULE_BREAKER)
    marked = BREAKS_A_RULE.replace(
        "@pytest.mark.asyncio\n", "@pytest.mark.asyncio\n@pytest.mark.bwsim_expect_violations\n"
    )
    pytester.makepyfile(test_rules=marked)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=110)
    assert result.parseoutcomes() == {"passed": 1}, result.stdout.str()


TOOL_TESTS = """
import httpx

def test_a_wrong_path_is_a_violation(bwsim_voice_api):
    account = bwsim_voice_api.account
    url = f"https://voice.bandwidth.com/api/v2/accounts/{account.account_id}/cals/x"
    httpx.get(url, headers={"Authorization": f"Bearer {bwsim_voice_api.token()}"})

def test_another_host(bwsim_voice_api):
    httpx.get("https://api.example.com/v1/things")
"""


def test_the_voice_api_fixture_fails_a_users_test_naming_what_is_wrong(
    pytester: pytest.Pytester,
) -> None:
    """An unrouted Bandwidth path fails as a violation; another host fails naming the host.

    respx's own pytest plugin is switched off: the fixture does not need it.
    """
    pytester.makepyfile(test_tools=TOOL_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:respx", "-q", timeout=60
    )
    out = result.stdout.str()
    assert result.parseoutcomes() == {"failed": 2}, out
    assert "unrouted-request: the fake Bandwidth has no route for GET" in out
    assert "goes to host 'api.example.com', which is not Bandwidth's" in out


def _readme_pytest_example() -> dict[str, str]:
    """The README's pytest example, verbatim, split into its two files."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## pytest\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    conftest, test = code.split("# test_bot.py\n")
    return {"conftest.py": conftest, "test_bot.py": "# test_bot.py\n" + test}


@pytest.mark.timeout(300)
def test_the_readme_example_passes_as_written_in_strict_mode(pytester: pytest.Pytester) -> None:
    """The README's pytest example, copied verbatim, passes under pytest-asyncio strict mode."""
    for name, text in _readme_pytest_example().items():
        (pytester.path / name).write_text(text, encoding="utf-8")
    # What the example assumes of the user's project: their bot as mybot.app:app (here
    # the reference bot); the caller audio is the packaged one, as for any user.
    (pytester.path / "mybot").mkdir()
    (pytester.path / "mybot" / "__init__.py").write_text("")
    (pytester.path / "mybot" / "app.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom bot.app import app\n"
    )
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "asyncio_mode=strict", timeout=280
    )
    out = result.stdout.str()
    assert "mode=Mode.STRICT" in out or "mode=strict" in out, out
    assert result.parseoutcomes() == {"passed": 1}, out
