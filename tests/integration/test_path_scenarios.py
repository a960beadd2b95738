"""The packaged path scenarios (``bwsim:paths/…``) pass a sound bot and catch a broken one.

Each packaged file runs twice, pointed by ``extends:`` at a bot of
``tests/bots/paths_bots.py`` that takes the path right (``/good/…``) and at one that
takes it wrong (``/broken/…``), as a user points the files at their own bot. All of them
run in one suite against one bot process, as ``bwsim run`` runs them.
"""

from __future__ import annotations

from pathlib import Path

from simulator.judge.expect import Verdict
from simulator.judge.scenario import load_scenarios
from simulator.runner.suite import ScenarioResult, run_suite
from simulator.runner.targets import AppTarget

POINTERS = {
    "disconnect": "call: {{webhook_path: /{kind}/voice, disconnect_path: /{kind}/status}}",
    "outbound": 'call: {{trigger: {{path: /{kind}/dial, json: {{to: "+15555550123"}}}}}}',
    # the broken menu holds the caller until bwsim ends the call: end it sooner
    "dtmf": "call: {{webhook_path: /{kind}/menu, max_call_s: 12}}",
    "transfer": "call: {{webhook_path: /{kind}/agent}}",
}


def failed_verdicts(result: ScenarioResult) -> list[Verdict]:
    """The verdicts of ``result`` that failed."""
    return [v for v in result.verdicts if not v.passed]


async def test_each_packaged_path_scenario_passes_the_good_bot_and_fails_the_broken_one(
    tmp_path: Path,
) -> None:
    """Good bots pass every path scenario; each broken bot fails for the reason it is broken."""
    files = []
    for name, pointer in POINTERS.items():
        for kind in ("good", "broken"):
            path = tmp_path / f"{kind}_{name}.yaml"
            path.write_text(
                f"extends: bwsim:paths/{name}.yaml\n{pointer.format(kind=kind)}\n",
                encoding="utf-8",
            )
            files.append(path)
    suite = await run_suite(load_scenarios(files), AppTarget("tests.bots.paths_bots:app"))
    results = {r.scenario.id: r for r in suite.results}

    good = {i: r for i, r in results.items() if i.startswith("good_")}
    assert len(good) == 6
    for scenario_id, result in good.items():
        assert result.status == "passed", f"{scenario_id}: {result.detail}"

    # a timer the bot never cancelled hangs up the ended call, seconds after its disconnect
    cleanup = results["broken_disconnect/the-caller-hangs-up-mid-call"]
    assert cleanup.status == "failed"
    (verdict,) = failed_verdicts(cleanup)
    assert (verdict.expectation.kind, verdict.expectation.absent) == ("api_response", True)
    assert "→ 404" in verdict.detail
    assert "after call_ended + 1500 ms, which must not happen" in verdict.detail

    # the greeting played from the dial is over before a long ring ends: the callee hears none
    late = results["broken_outbound/the-callee-answers-after-a-long-ring"]
    assert late.status == "failed"
    (verdict,) = failed_verdicts(late)
    assert verdict.expectation.kind == "play_audio"
    assert "no play audio within 6,000 ms after stream_accepted" in verdict.detail

    # the same <Gather> again after every timeout: more than three, until bwsim ends the call
    stuck = results["broken_dtmf/the-caller-presses-nothing"]
    assert stuck.status == "failed"
    (verdict,) = failed_verdicts(stuck)
    assert verdict.expectation.kind == "gather"
    assert "expected at most 3" in verdict.detail
    assert any("max_call_s" in p for p in stuck.problems)

    # no transferCompleteUrl and nothing after <Transfer>: a busy person ends the call unheard
    ignored = results["broken_transfer/the-person-is-busy"]
    assert ignored.status == "failed"
    (verdict,) = failed_verdicts(ignored)
    assert verdict.expectation.kind == "caller_hears"
    assert "no bot sound heard by the caller within 5,000 ms after transfer_ended" in verdict.detail

    # the bot hangs up once it has transferred: with the stream up, that drops the caller
    dropped = results["broken_transfer/the-person-answers-while-the-stream-stays-up"]
    assert dropped.status == "failed"
    kinds = {v.expectation.kind: v.detail for v in failed_verdicts(dropped)}
    assert "transferred-caller-dropped" in kinds["violation"]
