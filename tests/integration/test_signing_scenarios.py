"""bwsim's webhook-signing extension, from a scenario file, against a bot that checks it.

``tests/bots/signing_scenarios.yaml`` runs in one suite against one process of
``tests/bots/signing_bot.py`` (a bot behind a signing gateway): the good signature is
accepted; the wrong, missing and stale ones are refused, each for its own reason; and an
unsigned call to a plain route carries and reports nothing about signatures.
"""

from __future__ import annotations

import json
from pathlib import Path

from simulator.judge.scenario import load_scenarios
from simulator.runner.suite import run_suite
from simulator.runner.targets import AppTarget

SCENARIOS = Path(__file__).parents[1] / "bots" / "signing_scenarios.yaml"


async def test_signed_webhooks_are_accepted_or_refused_as_the_bot_checks_them() -> None:
    """Good signatures pass; wrong, missing and stale ones are refused, each for its reason."""
    suite = await run_suite(load_scenarios([SCENARIOS]), AppTarget("tests.bots.signing_bot:app"))
    results = {r.scenario.name: r for r in suite.results}
    for name, result in results.items():
        assert result.status == "passed", f"{name}: {result.detail}"

    reasons = {}
    for name, result in results.items():
        assert result.call is not None
        assert result.call.exchange is not None
        (attempt,) = result.call.exchange.attempts
        reasons[name] = (attempt.status, attempt.response_body, attempt.request_headers)
    assert reasons["a wrong signature is refused"][:2] == (403, "bad signature")
    assert reasons["a missing signature is refused"][:2] == (401, "missing signature")
    assert reasons["a stale signature is refused"][:2] == (403, "stale timestamp")
    assert "x-signature" not in reasons["a missing signature is refused"][2]
    good = results["a good signature is accepted"]
    assert good.call is not None
    assert "good signature in x-signature" in json.dumps(good.call.summary())

    # without signing, nothing about signatures is sent, checked or reported
    plain = results["an unsigned call to a plain bot"]
    assert plain.call is not None
    assert plain.call.exchange is not None
    sent = plain.call.exchange.attempts[0].request_headers
    assert not [h for h in sent if "signature" in h or "timestamp" in h]
    report = json.dumps([plain.to_dict(), plain.call.summary()], default=str).lower()
    for name in (str(SCENARIOS.parents[2]), "signing_scenarios"):  # paths and the file's name
        report = report.replace(name.lower(), "")
    assert "signature" not in report
    assert "signing" not in report
