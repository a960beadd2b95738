"""Each bundled scenario fails, for the reason it tests, against a bot broken that way.

The broken bots are the reference bot with one flaw each (``tests/bots/flawed.py``).
All of them run at once in one module-scoped fixture (a few bots at a time, each running
its scenarios concurrently), and each test then checks one scenario's verdict: failed,
and failed on the expectation (or implicit check) that names the flaw. That the correct
bot passes them all is ``bwsim run`` in ``nox -s e2e``.
"""

from __future__ import annotations

import asyncio

import pytest

from simulator.cli.run import bundled_scenarios
from simulator.judge.scenario import Scenario, load_scenarios
from simulator.runner.suite import ScenarioResult, SuiteResult, run_suite
from simulator.runner.targets import AppTarget

pytestmark = pytest.mark.e2e

REPLAYS = ["hello", "question", "noisy", "quiet", "stereo-44k"]
FORGED = [
    "forged-callid-does-not-choose-the-call-hung-up",
    "forged-accountid-and-callid-do-not-choose-the-call-hung-up",
    "forged-callid-does-not-choose-the-call-transferred",
]
MALFORMED = [
    "body-that-is-not-json",
    "body-that-is-a-json-array",
    "body-without-callid",
    "body-without-accountid",
    "callid-with-url-metacharacters",
    "callid-of-the-wrong-type",
]
CATCHES: dict[str, list[tuple[str, str]]] = {
    "no_keepalive": [("conversation/greeting", "webhook_response")],
    "silent": [("conversation/greeting", "play_audio")],
    "deaf": [("conversation/two-turn-conversation", "play_audio")]
    + [(f"audio/replay-{name}-wav", "play_audio") for name in REPLAYS],
    "no_clear": [("conversation/barge-in-clears-the-bot", "clear")],
    "hangup_retry": [("conversation/caller-hangs-up", "hangup_request")],
    "serializer_hangup_only": [("conversation/dropped-stream-is-hung-up", "hangup_request")],
    "no_end_call": [("conversation/goodbye-ends-the-call", "hangup_request")],
    "response_root_transfer": [
        ("conversation/transfer-to-a-person", "transfer_request"),
        ("security/forged-callid-does-not-choose-the-call-transferred", "transfer_request"),
    ],
    "trusts_start_ids": [(f"security/{name}", "api_response") for name in FORGED]
    # pipecat-bandwidth refuses such ids, so the trusting bot's pipeline never starts
    + [("security/ids-with-url-metacharacters-in-start-are-ignored", "play_audio")],
    "reusable_tokens": [("security/replayed-token-is-refused", "stream_refused")],
    "eternal_tokens": [("reference_bot/expired-token-is-refused", "stream_refused")],
    "no_challenge_header": [("security/challenge-flow", "webhook_response")],
    "accepts_any_credentials": [
        (f"security/{name}-is-refused", "webhook_response")
        for name in ("wrong-password", "wrong-username", "another-auth-scheme")
    ]
    + [("security/missing-credentials-are-refused", "webhook_response")],
    "password_only": [("security/wrong-username-is-refused", "webhook_response")],
    "missing_is_fine": [("security/missing-credentials-are-refused", "webhook_response")],
    "any_scheme": [("security/another-auth-scheme-is-refused", "webhook_response")],
    "naive_webhook": [(f"security/{name}", "webhook_response") for name in MALFORMED],
    "ignores_encoding": [("reference_bot/pcm-24-khz-outbound", "play_audio")],
    "hears_silence": [("audio/replay-silence-wav", "play_audio")],
}
CASES = [(flaw, sid, why) for flaw, pairs in CATCHES.items() for sid, why in pairs]
BOTS_AT_ONCE = 4


async def _run_all(scenarios: dict[str, Scenario]) -> dict[str, SuiteResult]:
    slots = asyncio.Semaphore(BOTS_AT_ONCE)

    async def one(flaw: str) -> tuple[str, SuiteResult]:
        chosen = [scenarios[sid] for sid, _ in CATCHES[flaw]]
        async with slots:
            target = AppTarget(f"tests.bots.flawed:{flaw}")
            return flaw, await run_suite(chosen, target, concurrency=8)

    return dict(await asyncio.gather(*(one(flaw) for flaw in CATCHES)))


@pytest.fixture(scope="module")
def flawed_runs() -> dict[str, SuiteResult]:
    """Every flawed bot against the scenarios that must catch it (run once, all at once)."""
    scenarios = {s.id: s for s in load_scenarios(bundled_scenarios())}
    missing = sorted({sid for _, sid, _ in CASES} - set(scenarios))
    assert not missing, f"CATCHES names scenarios that do not exist: {missing}"
    return asyncio.run(_run_all(scenarios))


def _result(runs: dict[str, SuiteResult], flaw: str, sid: str) -> ScenarioResult:
    return next(r for r in runs[flaw].results if r.scenario.id == sid)


def test_every_bundled_scenario_has_a_flawed_bot_it_catches() -> None:
    """No bundled scenario is left without a broken bot that it must catch."""
    bundled = {s.id for s in load_scenarios(bundled_scenarios())}
    covered = {sid for _, sid, _ in CASES}
    assert bundled - covered == set()


@pytest.mark.timeout(900)  # the first test waits for the fixture to run every flawed bot
@pytest.mark.parametrize(("flaw", "sid", "why"), CASES, ids=[f"{f}-{s}" for f, s, _ in CASES])
def test_the_scenario_fails_against_the_flawed_bot(
    flawed_runs: dict[str, SuiteResult], flaw: str, sid: str, why: str
) -> None:
    """The scenario fails against the bot with the flaw, on the expectation that tests it."""
    result = _result(flawed_runs, flaw, sid)
    failing = [v.expectation.kind for v in result.verdicts if not v.passed]
    print(f"{flaw} vs {sid}: {result.status}: {result.detail}")
    assert result.status == "failed", f"{sid} passed against the {flaw} bot"
    assert why in failing, f"{sid} failed on {failing} / {result.problems}, not on {why}"
