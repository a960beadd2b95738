"""Each bundled scenario fails, for the reason it tests, against a bot broken that way.

The broken bots are the reference bot with one flaw each (``tests/bots/flawed.py``).
All of them run in one module-scoped fixture (two bots at a time, each running its
scenarios concurrently), and each test then checks one scenario's verdict: failed, on the
expectation (or implicit check) that names the flaw, with the reason text that flaw
produces. Where that reason is a time budget running out ("no clear within 1,500 ms"),
which a bot starved of CPU could also miss, the test also asks the whole call for the
flaw itself (no ``clear`` at all, no hang-up at all, a refused request), so a late bot on
a busy machine is not counted as the flaw caught; each of those whole-call checks is run
on the reference bot's call too, where it must find the behaviour present. That the
correct bot passes them all is ``bwsim run`` in ``nox -s e2e``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

import pytest

from simulator.cli.run import bundled_scenarios
from simulator.judge.scenario import Scenario, load_scenarios
from simulator.runner.suite import ScenarioResult, SuiteResult, run_suite
from simulator.runner.targets import AppTarget

pytestmark = pytest.mark.e2e

Evidence = Callable[[ScenarioResult], str | None]
"""Whole-call evidence of the flaw: None when the call shows it, else what the call shows."""


def _events(result: ScenarioResult, kind: str) -> list[float]:
    assert result.call is not None, f"no call was made: {result.problems}"
    return [e.at_ms for e in result.call.events(kind)]


def never(kind: str, what: str) -> Evidence:
    """The bot did not do ``kind`` at any time in the call (not just late)."""

    def check(result: ScenarioResult) -> str | None:
        seen = _events(result, kind)
        return f"the bot did {what} (at {seen} ms): late at most, not the flaw" if seen else None

    return check


def silent_after_the_caller(result: ScenarioResult) -> str | None:
    """The bot started no speech after the caller first stopped speaking (it greeted only)."""
    heard = _events(result, "caller-audio-end")
    if not heard:
        return "the caller never finished a line: the bot had nothing to be deaf to"
    later = [at for at in _events(result, "bot-speech-start") if at > heard[0]]
    return f"the bot answered (speech at {later} ms): late at most, not the flaw" if later else None


def refused_request(method: str, route: str, status: int) -> Evidence:
    """The bot made the request, and the fake Voice API refused it with ``status``."""

    def check(result: ScenarioResult) -> str | None:
        assert result.call is not None
        sent = [(e.method, e.route, e.status) for e in result.call.api_requests]
        if (method, route, status) in sent:
            return None
        return f"no {method} {route} answered {status} (requests: {sent})"

    return check


def request_for_the_victim(result: ScenarioResult) -> str | None:
    """The request that must not happen names the forged (victim) call."""
    victim = result.victim_id
    if victim is None:
        return "the scenario had no victim call"
    details = [
        v.detail for v in result.verdicts if not v.passed and v.expectation.kind == "api_response"
    ]
    if any(f"/calls/{victim}" in d for d in details):
        return None
    return f"no refused request names the victim call {victim}: {details}"


def hung_up_before_the_caller_spoke(result: ScenarioResult) -> str | None:
    """The bot hung the call up itself before the caller said anything."""
    if not _events(result, "hangup-request"):
        return "the bot did not hang up: the call ended some other way"
    if _events(result, "caller-audio-start"):
        return "the caller spoke: the call was not cut short by the bot"
    return None


def also_failed(kind: str, reason: str) -> Evidence:
    """Another expectation of the scenario failed, with ``reason`` (a fact, not a budget)."""

    def check(result: ScenarioResult) -> str | None:
        details = [v.detail for v in result.verdicts if not v.passed and v.expectation.kind == kind]
        if any(reason in d for d in details):
            return None
        return f"{kind} did not fail with {reason!r} ({details})"

    return check


class Catch(NamedTuple):
    """A scenario that must catch a flawed bot, and how it must fail."""

    sid: str
    why: str
    """The kind of the expectation that must fail."""
    reason: str
    """Text its verdict must contain: the reason that flaw produces."""
    evidence: Evidence | None = None
    """For a reason that is a time budget: the flaw, seen in the whole call."""


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
NO_PLAY = "no play audio within"
ANSWERED_200 = "no attempt was answered 401 (statuses [200])"
CATCHES: dict[str, list[Catch]] = {
    "no_keepalive": [
        Catch("conversation/greeting", "webhook_response", "nothing that holds the call follows")
    ],
    "silent": [
        Catch("conversation/greeting", "play_audio", NO_PLAY, never("bot-audio-first", "speak"))
    ],
    "deaf": [
        Catch(
            sid, "play_audio", NO_PLAY + " 4,000 ms after caller_audio_end", silent_after_the_caller
        )
        for sid in ["conversation/two-turn-conversation"]
        + [f"audio/replay-{name}-wav" for name in REPLAYS]
    ],
    "no_clear": [
        Catch(
            "conversation/barge-in-clears-the-bot",
            "clear",
            "no clear within",
            never("clear", "send clear"),
        )
    ],
    "hangup_retry": [
        Catch("conversation/caller-hangs-up", "hangup_request", "seen, expected at most 1")
    ],
    "serializer_hangup_only": [
        Catch(
            "conversation/dropped-stream-is-hung-up",
            "hangup_request",
            "no hangup request for this call within",
            never("hangup-request", "hang up"),
        )
    ],
    "no_end_call": [
        Catch(
            "conversation/goodbye-ends-the-call",
            "hangup_request",
            "no hangup request for this call within",
            never("hangup-request", "hang up"),
        )
    ],
    "response_root_transfer": [
        Catch(
            sid,
            "transfer_request",
            "0 seen, expected exactly 1",
            refused_request("PUT", "update_bxml", 400),  # <Response> is not a BXML root
        )
        for sid in [
            "conversation/transfer-to-a-person",
            "security/forged-callid-does-not-choose-the-call-transferred",
        ]
    ],
    "trusts_start_ids": [
        Catch(f"security/{name}", "api_response", "which must not happen", request_for_the_victim)
        for name in FORGED
    ]
    # pipecat-bandwidth refuses such ids, so the trusting bot's pipeline never starts:
    # its serializer hangs the call up before the caller can say anything
    + [
        Catch(
            "security/ids-with-url-metacharacters-in-start-are-ignored",
            "play_audio",
            "caller_audio_end never happened",
            hung_up_before_the_caller_spoke,
        )
    ],
    "reusable_tokens": [
        Catch(
            "security/replayed-token-is-refused",
            "stream_refused",
            "no stream refused",
            also_failed("stream_accepted", "stream 'replay' accepted at"),
        )
    ],
    "eternal_tokens": [
        Catch(
            "reference_bot/expired-token-is-refused",
            "stream_refused",
            "no stream refused",
            also_failed("stream_accepted", "stream 'bot' accepted at"),
        )
    ],
    "no_challenge_header": [
        Catch("security/challenge-flow", "webhook_response", "WWW-Authenticate [None], not 'basic'")
    ],
    "accepts_any_credentials": [
        Catch(f"security/{name}-is-refused", "webhook_response", ANSWERED_200)
        for name in ("wrong-password", "wrong-username", "another-auth-scheme")
    ]
    + [Catch("security/missing-credentials-are-refused", "webhook_response", ANSWERED_200)],
    "password_only": [
        Catch("security/wrong-username-is-refused", "webhook_response", ANSWERED_200)
    ],
    "missing_is_fine": [
        Catch("security/missing-credentials-are-refused", "webhook_response", ANSWERED_200)
    ],
    "any_scheme": [
        Catch("security/another-auth-scheme-is-refused", "webhook_response", ANSWERED_200)
    ],
    "naive_webhook": [
        Catch(f"security/{name}", "webhook_response", "the answer was 500, not 400")
        for name in MALFORMED[:4]
    ]
    + [
        Catch(f"security/{name}", "webhook_response", "the answer was 200, not 400")
        for name in MALFORMED[4:]
    ],
    "ignores_encoding": [
        Catch(
            "reference_bot/pcm-24-khz-outbound",
            "play_audio",
            "the bot sent playAudio as ['audio/pcmu'], not 'audio/pcm;rate=24000",
        )
    ],
    "hears_silence": [
        Catch("audio/replay-silence-wav", "play_audio", "after caller_audio_start, which must not")
    ],
}
CASES = [(flaw, catch) for flaw, catches in CATCHES.items() for catch in catches]
BOTS_AT_ONCE = 2
"""Two bots on the two-core CI machine: four starved each other into missed budgets."""


async def _run_all(scenarios: dict[str, Scenario]) -> dict[str, SuiteResult]:
    slots = asyncio.Semaphore(BOTS_AT_ONCE)

    async def one(flaw: str) -> tuple[str, SuiteResult]:
        chosen = [scenarios[c.sid] for c in CATCHES[flaw]]
        async with slots:
            target = AppTarget(f"tests.bots.flawed:{flaw}")
            return flaw, await run_suite(chosen, target, concurrency=8)

    return dict(await asyncio.gather(*(one(flaw) for flaw in CATCHES)))


@pytest.fixture(scope="module")
def flawed_runs() -> dict[str, SuiteResult]:
    """Every flawed bot against the scenarios that must catch it (run once, two bots at once)."""
    scenarios = {s.id: s for s in load_scenarios(bundled_scenarios())}
    missing = sorted({c.sid for _, c in CASES} - set(scenarios))
    assert not missing, f"CATCHES names scenarios that do not exist: {missing}"
    return asyncio.run(_run_all(scenarios))


def _result(runs: dict[str, SuiteResult], flaw: str, sid: str) -> ScenarioResult:
    return next(r for r in runs[flaw].results if r.scenario.id == sid)


def test_every_bundled_scenario_has_a_flawed_bot_it_catches() -> None:
    """No bundled scenario is left without a broken bot that it must catch."""
    bundled = {s.id for s in load_scenarios(bundled_scenarios())}
    covered = {c.sid for _, c in CASES}
    assert bundled - covered == set()


@pytest.mark.timeout(900)  # the first test waits for the fixture to run every flawed bot
@pytest.mark.parametrize(("flaw", "catch"), CASES, ids=[f"{f}-{c.sid}" for f, c in CASES])
def test_the_scenario_fails_against_the_flawed_bot(
    flawed_runs: dict[str, SuiteResult], flaw: str, catch: Catch
) -> None:
    """The scenario fails against the flawed bot on the expectation and for the reason it tests."""
    result = _result(flawed_runs, flaw, catch.sid)
    failing = [(v.expectation.kind, v.detail) for v in result.verdicts if not v.passed]
    print(f"{flaw} vs {catch.sid}: {result.status}: {failing} {result.problems}")
    assert result.status == "failed", f"{catch.sid} passed against the {flaw} bot"
    reasons = [detail for kind, detail in failing if kind == catch.why]
    assert reasons, f"{catch.sid} failed on {failing} / {result.problems}, not on {catch.why}"
    assert any(catch.reason in r for r in reasons), (
        f"{catch.sid} failed on {catch.why} for another reason than {catch.reason!r}: {reasons}"
    )
    if catch.evidence is not None:
        problem = catch.evidence(result)
        assert problem is None, f"{catch.sid} against the {flaw} bot: {problem}"


EVIDENCED = [(flaw, c) for flaw, c in CASES if c.evidence is not None]


@pytest.fixture(scope="module")
def reference_runs() -> dict[str, ScenarioResult]:
    """The reference bot against every scenario whose catch checks the whole call."""
    scenarios = {s.id: s for s in load_scenarios(bundled_scenarios())}
    chosen = [scenarios[sid] for sid in sorted({c.sid for _, c in EVIDENCED})]
    suite = asyncio.run(run_suite(chosen, AppTarget("bot.app:app"), concurrency=8))
    return {r.scenario.id: r for r in suite.results}


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("flaw", "catch"), EVIDENCED, ids=[f"{f}-{c.sid}" for f, c in EVIDENCED])
def test_the_whole_call_evidence_is_absent_from_the_reference_bots_call(
    reference_runs: dict[str, ScenarioResult], flaw: str, catch: Catch
) -> None:
    """Each whole-call check finds no flaw in the correct bot's call: it can fail."""
    assert catch.evidence is not None
    problem = catch.evidence(reference_runs[catch.sid])
    print(f"reference bot vs {catch.sid} ({flaw}'s check): {problem}")
    assert problem is not None, f"{flaw}'s check saw the flaw in the reference bot's call"
