"""``bwsim audit`` never flags a correct bot: the reference bot and a second, unrelated one.

The reference bot (``bot/``, Pipecat with offline stand-ins) and the speaker bot
(``tests/bots/speaker_bot.py``: no Pipecat, its token in the query, ``<Bxml>`` answers,
``<StopStream wait>`` as keep-alive, PCM 16 kHz audio, an energy detector for barge-in)
are both correct by Bandwidth's rules; every check, ``--slow`` ones included, must pass
for each. Each runs as ``bwsim audit`` does: the bot in its own process, served by
uvicorn on loopback, against the fake Bandwidth.
"""

from __future__ import annotations

import pytest

from simulator.audit import CHECKS
from tests.integration.audit_helpers import REFERENCE, SPEAKER, audit, explain

pytestmark = pytest.mark.timeout(150)


@pytest.mark.parametrize(
    ("app", "max_calls"),
    [(REFERENCE, 4), (SPEAKER, 6)],  # the speaker bot is light: more calls at once
    ids=["reference-bot", "speaker-bot"],
)
async def test_a_correct_bot_passes_every_check(app: str, max_calls: int) -> None:
    """Every check of the catalogue runs and passes, with evidence and a detail sentence."""
    report = await audit(app, slow=True, max_calls=max_calls)
    assert [r.id for r in report.results] == [c.id for c in CHECKS]
    ran = [r for r in report.results if r.id != "webhook.signature"]
    assert {r.status for r in ran} == {"passed"}, explain(report)
    # Without --signing-secret (a bot for plain Bandwidth) no signature is checked.
    assert report.result("webhook.signature").status == "skipped"
    assert report.exit_code == 0
    for result in ran:
        assert result.verdict.detail
        assert result.verdict.evidence, result.id
    # Not a pass from silence: the silent interleaved call was hung up by the bot's idle
    # timeout, which names its own call.
    interleaved = report.result("spoof.interleaved_webhooks").verdict
    assert "(the bot acted in 3 of them)" in interleaved.detail
    silent = interleaved.evidence["calls"][2]
    assert silent["caller_said"].startswith("(nothing"), silent
    assert "POST update_call 200" in silent["actions"], silent


async def test_a_refusal_after_accept_counts_and_the_report_says_which_form() -> None:
    """A bot that accepts, then closes 1008 refuses as well as one answered 403; both named."""
    tokens = ("ws.unknown_token", "ws.token_reuse", "ws.token_expiry")
    report = await audit(SPEAKER, *tokens, env={"SPEAKER_REFUSE": "after-accept"})
    assert {r.status for r in report.results} == {"passed"}, explain(report)
    for result in report.results:
        assert "closed with 1008 before any audio" in result.verdict.detail
        assert "HTTP 403" not in result.verdict.detail
    unknown = report.result("ws.unknown_token").verdict.evidence["attempts"]
    assert {a["outcome"] for a in unknown.values()} == {"closed"}
    assert {a["close_code"] for a in unknown.values()} == {1008}


async def test_a_reuse_refused_only_after_the_tokens_lifetime_is_not_a_pass() -> None:
    """A refused reuse that came after the token's lifetime proves nothing: error, not pass."""
    # Told the lifetime is 0 s, every reuse comes after it, however fast the machine.
    report = await audit(SPEAKER, "ws.token_reuse", config={"token_ttl_s": 0.0})
    result = report.result("ws.token_reuse")
    assert result.status == "error", explain(report)
    assert "cannot be told from expiry" in result.verdict.detail
    assert result.verdict.evidence["reused_after_s"] >= 0.0
    assert report.exit_code == 2
