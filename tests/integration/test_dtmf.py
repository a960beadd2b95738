"""DTMF against a real bot: the caller presses keys, ``<Gather>`` and ``<StartGather>`` post them.

The bot (``tests/bots/raw_bot.py``) runs under a real uvicorn on loopback: ``/gather``
answers with a ``<Gather>`` whose attributes come from the query, ``/start-gather`` with
``<StartGather dtmfUrl="/events/dtmf">`` and a long ``<Pause>``. The calls come from
scenario files, run as ``bwsim run`` runs them (docs/bandwidth.md §3.4).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from simulator.call.callers import linger_caller
from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.judge.expect import Verdict, judge_all, observe
from simulator.judge.scenario import Scenario, parse_scenarios
from simulator.protocol.webhook_validation import validate_body
from simulator.runner.harness import Harness
from simulator.runner.scenario_call import call_options, scenario_caller
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import raw_bot
from tests.integration.cli import bwsim

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")

SCENARIOS = """
call: {auth: preemptive, max_call_s: 30}
scenarios:
  - name: four digits then the terminator
    call: {webhook_path: "/gather?max=4&term=%23"}
    caller:
      - dtmf: "1234#"
        send_after: gather_start
      - stay: 20000
    expect:
      - gather: {digits: "1234", terminating_digit: "", reason: max-digits}
  - name: the terminator ends a longer gather
    call: {webhook_path: "/gather?max=5&term=%23"}
    caller:
      - dtmf: {digits: "1234#", gap_ms: 100}
        send_after: gather_start
      - stay: 20000
    expect:
      - gather: {digits: "1234", terminating_digit: "#"}
  - name: no key at all
    call: {webhook_path: "/gather?first=1&repeat=2&prompt=Press%20a%20key"}
    caller:
      - stay: 20000
    expect:
      - gather: {digits: "", terminating_digit: "", reason: first-digit-timeout}
  - name: keys then silence
    call: {webhook_path: "/gather?inter=1"}
    caller:
      - dtmf: "12"
        send_after: gather_start
      - stay: 20000
    expect:
      - gather: {digits: "12", reason: inter-digit-timeout}
  - name: start gather
    call: {webhook_path: "/start-gather"}
    caller:
      - wait_for: call_answered
      - dtmf: "1"
      - wait_for: dtmf_webhook
      - dtmf: "#"
      - wait_for: dtmf_webhook
      - hangup: true
    expect:
      - dtmf_webhook: {count: 2}
      - dtmf_webhook: {digit: "#"}
      - gather: {absent: true}
"""


def _scenarios() -> dict[str, Scenario]:
    return {s.name: s for s in parse_scenarios(SCENARIOS, Path("dtmf.yaml"))}


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A fake Bandwidth with the raw protocol bot as its target."""
    for values in raw_bot.SEEN.values():
        values.clear()
    async with serve(raw_bot.app) as bot, Harness(UrlTarget(bot.base_url)) as h:
        yield h


async def _run(h: Harness, name: str) -> tuple[CallResult, list[Verdict]]:
    """Run the scenario ``name`` as ``bwsim run`` would; the call and its verdicts."""
    scenario = _scenarios()[name]
    problems: list[str] = []
    first = h.fake.journal.last_seq
    result = await h.place_call(
        scenario_caller(scenario, problems), options=call_options(scenario, {})
    )
    assert problems == []
    obs = observe(result, h.fake.journal.since(first))
    return result, judge_all(obs, scenario.expect)


def _bodies(path: str) -> list[dict[str, Any]]:
    return [w["body"] for w in raw_bot.SEEN["webhooks"] if w["path"] == path]


async def test_1234_hash_into_max_digits_4_posts_1234(harness: Harness) -> None:
    """Keys "1234#" into maxDigits=4, terminatingDigits="#": gather posts "1234" at the 4th."""
    result, verdicts = await _run(harness, "four digits then the terminator")
    assert [v.detail for v in verdicts if not v.passed] == []
    (body,) = _bodies("gathered")
    assert (body["digits"], body["terminatingDigit"]) == ("1234", "")
    validate_body("gather", body)
    (end,) = [e for e in result.timeline if e.kind == "gather"]
    fourth = [e for e in result.timeline if e.kind == "dtmf"][3]
    assert fourth.detail["digit"] == "4"
    assert end.at_ms >= fourth.at_ms  # ended by the 4th key, not by a timeout


async def test_a_terminating_digit_is_posted_as_terminating_digit(harness: Harness) -> None:
    """Keys "1234#" into maxDigits=5: gather posts digits "1234" and terminatingDigit "#"."""
    _, verdicts = await _run(harness, "the terminator ends a longer gather")
    assert [v.detail for v in verdicts if not v.passed] == []
    (body,) = _bodies("gathered")
    assert (body["digits"], body["terminatingDigit"]) == ("1234", "#")
    validate_body("gather", body)


async def test_gather_expectation_catches_the_wrong_terminating_digit(harness: Harness) -> None:
    """Expecting terminating_digit "#" where maxDigits ended the gather fails, saying why."""
    scenario = _scenarios()["four digits then the terminator"]
    wrong = parse_scenarios(
        SCENARIOS.replace('terminating_digit: "", reason: max-digits', 'terminating_digit: "#"'),
        Path("dtmf.yaml"),
    )[0]
    assert wrong.name == scenario.name
    problems: list[str] = []
    first = harness.fake.journal.last_seq
    result = await harness.place_call(
        scenario_caller(wrong, problems), options=call_options(wrong, {})
    )
    (verdict,) = judge_all(observe(result, harness.fake.journal.since(first)), wrong.expect)
    assert not verdict.passed
    assert "its terminating_digit was '', not '#'" in verdict.detail


async def test_no_key_times_out_after_every_prompt_repeat(harness: Harness) -> None:
    """With no key, the prompt plays repeatCount=2 times, then gather posts empty digits."""
    result, verdicts = await _run(harness, "no key at all")
    assert [v.detail for v in verdicts if not v.passed] == []
    (body,) = _bodies("gathered")
    assert (body["digits"], body["terminatingDigit"]) == ("", "")
    validate_body("gather", body)
    (start,) = [e for e in result.timeline if e.kind == "gather-start"]
    (end,) = [e for e in result.timeline if e.kind == "gather"]
    assert end.detail["prompts_played"] == 2
    # Two playings of the prompt (at least 1 s each) and two 1 s waits: never sooner.
    assert end.at_ms - start.at_ms >= 4000


async def test_inter_digit_timeout_posts_what_was_pressed(harness: Harness) -> None:
    """Keys "12" then nothing: interDigitTimeout ends the gather with digits "12"."""
    _, verdicts = await _run(harness, "keys then silence")
    assert [v.detail for v in verdicts if not v.passed] == []
    (body,) = _bodies("gathered")
    assert (body["digits"], body["terminatingDigit"]) == ("12", "")


async def test_start_gather_posts_a_dtmf_webhook_per_key(harness: Harness) -> None:
    """After <StartGather>, each key goes to dtmfUrl as its own dtmf webhook, in order."""
    result, verdicts = await _run(harness, "start gather")
    assert [v.detail for v in verdicts if not v.passed] == []
    bodies = _bodies("dtmf")
    assert [b["digit"] for b in bodies] == ["1", "#"]
    for body in bodies:
        validate_body("dtmf", body)
        assert body["callId"] == result.call_id


async def test_press_refuses_a_key_that_is_not_dtmf(harness: Harness) -> None:
    """LiveCall.press("12x") raises ValueError naming 'x' before pressing anything."""
    errors: list[str] = []

    async def caller(call: LiveCall) -> None:
        await call.wait_for("gather_start", timeout_ms=5000)
        try:
            await call.press("12x")
        except ValueError as exc:
            errors.append(str(exc))

    options = CallOptions(webhook_path="/gather?first=0", auth_mode="preemptive", max_call_s=20)
    result = await harness.place_call(caller, options=options)
    assert errors and "'x'" in errors[0]
    assert not [e for e in result.timeline if e.kind == "dtmf"]


async def test_linger_caller_presses_its_keys_after_the_greeting(harness: Harness) -> None:
    """With dtmf="5#", linger_caller presses after the bot's 1 s greeting; both keys are posted."""
    options = CallOptions(webhook_path="/tone?dtmf=1", auth_mode="preemptive", max_call_s=30)
    result = await harness.place_call(linger_caller(None, 300, dtmf="5#"), options=options)
    assert [b["digit"] for b in _bodies("dtmf")] == ["5", "#"]
    (quiet,) = [e for e in result.timeline if e.kind == "bot-speech-end"]
    first_key = next(e for e in result.timeline if e.kind == "dtmf")
    assert first_key.at_ms >= quiet.at_ms


def _bwsim(*args: str) -> subprocess.CompletedProcess[str]:
    return bwsim(*args)


def test_bwsim_call_dtmf_answers_a_gather(tmp_path: Path) -> None:
    """`bwsim call --dtmf 1234#` presses the keys when <Gather> starts; the summary shows it."""
    audio, summary = tmp_path / "hello.wav", tmp_path / "summary.json"
    sf.write(audio, np.zeros(800), 8000)
    done = _bwsim(
        "call",
        "--app",
        "tests.bots.raw_bot:app",
        "--webhook-path",
        "/gather?max=5&term=%23",
        "--auth",
        "preemptive",  # the raw bot checks no credentials: not what this test is about
        "--dtmf",
        "1234#",
        "--audio",
        str(audio),
        "--out",
        str(tmp_path / "out"),
        "--json",
        str(summary),
    )
    assert done.returncode == 0, done.stderr
    events = json.loads(summary.read_text())["events"]
    (gather,) = [e for e in events if e["type"] == "gather"]
    assert (gather["digits"], gather["terminating_digit"]) == ("1234", "#")
    assert [e["digit"] for e in events if e["type"] == "dtmf"] == list("1234#")


def test_bwsim_call_refuses_a_key_that_is_not_dtmf(tmp_path: Path) -> None:
    """--dtmf 12x is a usage error (exit 2) naming the option and the key, before any call."""
    done = _bwsim("call", "--url", "http://127.0.0.1:9", "--audio", "x.wav", "--dtmf", "12x")
    assert done.returncode == 2
    assert "--dtmf" in done.stderr
    assert "'x'" in done.stderr


ROOT = Path(__file__).resolve().parents[2]
PLUGIN_CONFTEST = f"""
import pytest
from pathlib import Path
from simulator import AppTarget

@pytest.fixture(scope="session")
def bwsim_target():
    return AppTarget("tests.bots.raw_bot:app", cwd=Path({str(ROOT)!r}))
"""

PLUGIN_SUITE = """
async def menu(call):
    await call.wait_for("gather_start", timeout_ms=10_000)
    await call.press("1234#", gap_ms=50)
    await call.wait_for("gather", timeout_ms=10_000)

async def test_the_caller_presses_keys(bwsim):
    result = await bwsim.call(menu, webhook_path="/gather?max=5&term=%23", auth_mode="preemptive")
    bwsim.expect(result, {"gather": {"digits": "1234", "terminating_digit": "#"}})

async def test_a_wrong_gather_expectation_fails(bwsim):
    result = await bwsim.call(menu, webhook_path="/gather?max=4&term=%23", auth_mode="preemptive")
    bwsim.expect(result, {"gather": {"digits": "1234", "terminating_digit": "#"}})
"""


def test_the_pytest_plugin_presses_keys_and_judges_the_gather(pytester: pytest.Pytester) -> None:
    """In a user's suite, call.press() answers a <Gather> and bwsim.expect judges what it got."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_menu=PLUGIN_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=280)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*its terminating_digit was '', not '#'*"])
