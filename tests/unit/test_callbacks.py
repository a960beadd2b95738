"""The webhooks after ``initiate``: how scenarios ask for them and judge them, pure logic.

``call.disconnect_path`` and the ``callback`` expectation in scenario files, the
``--disconnect-path`` option, and what the BXML runner and an Update Call hand the call
shell for a webhook (its method, fallback and tag). The wire itself is in
``tests/integration/test_webhook_delivery.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.call.observe import record_call_event
from simulator.call.recorder import CallClock, CallRecorder, TimelineEvent
from simulator.cli import main
from simulator.errors import ScenarioError
from simulator.judge.expect import Observation, judge
from simulator.judge.scenario import Expectation, Scenario, parse_scenarios
from simulator.protocol.bxml import parse_bxml
from simulator.protocol.bxml_runner import BxmlRunner, Redirected, SendWebhook, SetTag, Started
from simulator.protocol.verbs import Fallback, plan
from simulator.rest.registry import Call, RedirectRequested
from simulator.runner.scenario_call import call_options

BASE = "http://bot.test/hooks/answer"


def scenario(call: str, expect: str = "[clear]") -> Scenario:
    """The one scenario of a file with this ``call:`` mapping and ``expect:`` list."""
    text = f"scenarios:\n  - name: t\n    call: {call}\n    expect: {expect}\n"
    (s,) = parse_scenarios(text, Path("t.yaml"), load_audio=lambda p, n: np.zeros(1, np.int16))
    assert isinstance(s, Scenario)
    return s


def expectation(line: str) -> Expectation:
    """The expectation of one YAML flow mapping, as a scenario file gives it."""
    return scenario("{}", f"[{line}]").expect[0]


def callback(at: float, **detail: Any) -> TimelineEvent:
    """A ``callback`` timeline event (a webhook sent after initiate)."""
    base = {"event": "disconnect", "method": "POST", "url": "http://b/status", "fallback": False}
    return TimelineEvent("callback", at, base | detail)


def observed(*events: TimelineEvent) -> Observation:
    """A finished call with this timeline."""
    return Observation("c-1", list(events), None, [], [], phase="disconnected", cause="hangup")


# -- scenario files and the command line -------------------------------------------------


def test_disconnect_path_reaches_the_call_options() -> None:
    """call.disconnect_path becomes CallOptions.disconnect_path, so bwsim run sends it."""
    s = scenario("{disconnect_path: /status}")
    assert s.call.disconnect_path == "/status"
    assert call_options(s, {}).disconnect_path == "/status"
    assert call_options(scenario("{}"), {}).disconnect_path is None


@pytest.mark.parametrize("value", ["status", "42", "[/a]"])
def test_a_disconnect_path_without_slash_is_named(value: str) -> None:
    """A disconnect_path that is not a path is refused with its line and key."""
    with pytest.raises(ScenarioError) as info:
        scenario(f"{{disconnect_path: {value}}}")
    assert (info.value.line, info.value.key) == (3, "disconnect_path")
    assert "must be a path starting with '/'" in str(info.value)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("callback: {event: disconect}", "callback.event must be one of"),
        ("callback: {method: PUT}", "callback.method must be GET or POST"),
        ("callback: {delivered: yes please}", "callback.delivered"),
        ("callback: {fallback: 1}", "callback.fallback"),
    ],
)
def test_a_bad_callback_expectation_is_refused(line: str, words: str) -> None:
    """Unknown events, methods Bandwidth does not use and non-booleans are refused at load."""
    with pytest.raises(ScenarioError, match=words):
        expectation(line)


def test_a_bad_disconnect_path_on_the_command_line_is_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``bwsim call --disconnect-path status`` is a usage error that says what a path is."""
    with pytest.raises(SystemExit) as info:
        main.main(
            [
                "call",
                "--url",
                "http://127.0.0.1:1",
                "--audio",
                "x.wav",
                "--disconnect-path",
                "status",
            ]
        )
    assert info.value.code == 2
    assert "must be a path starting with '/'" in capsys.readouterr().err


# -- judging ---------------------------------------------------------------------------


def test_a_delivered_disconnect_with_its_cause_passes() -> None:
    """``callback: {event: disconnect, delivered: true, cause: hangup}`` matches the delivery."""
    e = expectation("callback: {event: disconnect, delivered: true, cause: hangup, count: 1}")
    verdict = judge(observed(callback(900, delivered=True, cause="hangup", outcome="answered")), e)
    assert verdict.passed, verdict.detail


def test_an_undelivered_disconnect_fails_naming_the_outcome() -> None:
    """A disconnect the bot answered 503 fails the expectation and says so."""
    e = expectation("callback: {event: disconnect, delivered: true}")
    seen = callback(900, delivered=False, cause="hangup", outcome="server-error", status=503)
    verdict = judge(observed(seen), e)
    assert not verdict.passed
    assert "not delivered (server-error)" in verdict.detail
    assert "its delivered was False, not True" in verdict.detail


def test_no_disconnect_at_all_fails() -> None:
    """A call without a disconnect (no disconnect_path, or the bot never got it) fails."""
    e = expectation("callback: {event: disconnect}")
    verdict = judge(observed(callback(10, event="redirect", delivered=True)), e)
    assert not verdict.passed
    assert verdict.detail == "no callback."


def test_the_method_and_fallback_are_judged() -> None:
    """``method: GET`` with ``fallback: true`` matches only a GET delivered to the fallback URL."""
    e = expectation("callback: {event: redirect, method: get, fallback: true}")
    primary = callback(10, event="redirect", method="GET", delivered=True)
    assert not judge(observed(primary), e).passed
    rescued = callback(20, event="redirect", method="GET", delivered=True, fallback=True)
    assert judge(observed(primary, rescued), e).passed


# -- what the runner and the Voice API hand the call shell ---------------------------------


def _runner() -> BxmlRunner:
    ids = (f"s-{n}" for n in itertools.count(1))
    return BxmlRunner(orphan_grace_s=5.0, stream_ids=lambda: next(ids))


def test_redirect_carries_its_method_fallback_and_tag() -> None:
    """<Redirect> hands the shell its method, its resolved fallback with credentials, its tag."""
    xml = (
        '<Response><Tag>first</Tag><Redirect redirectUrl="next" redirectMethod="get" tag="t-2" '
        'redirectFallbackUrl="/spare" redirectFallbackMethod="GET" fallbackUsername="fu" '
        'fallbackPassword="fp"/></Response>'
    )
    steps = tuple(plan(parse_bxml(xml, context="webhook"), BASE))
    out = _runner().handle(Started(steps), 0.0)
    assert SetTag("first") in out
    [send] = [c for c in out if isinstance(c, SendWebhook)]
    assert (send.url, send.method, send.tag) == ("http://bot.test/hooks/next", "GET", "t-2")
    assert send.fallback == Fallback("http://bot.test/spare", "GET", "fu", "fp")


def test_a_verb_without_fallback_or_tag_leaves_them_unset() -> None:
    """No *FallbackUrl: no fallback; no tag attribute: None (the call's tag stays)."""
    steps = tuple(
        plan(
            parse_bxml('<Response><Redirect redirectUrl="n"/></Response>', context="webhook"), BASE
        )
    )
    [send] = [c for c in _runner().handle(Started(steps), 0.0) if isinstance(c, SendWebhook)]
    assert (send.method, send.fallback, send.tag) == ("POST", None, None)


def test_update_call_redirect_carries_its_method_fallback_and_tag() -> None:
    """An Update Call redirect keeps redirectMethod, redirectFallbackUrl/Method, creds and tag."""
    body = {
        "state": "active",
        "redirectUrl": "http://bot.test/r",
        "redirectMethod": "GET",
        "redirectFallbackUrl": "http://bot.test/f",
        "fallbackUsername": "fu",
        "fallbackPassword": "fp",
        "tag": "from-api",
    }
    call = Call("c-1", "1", "app", "+1", "+2", "inbound", start_time=None)  # type: ignore[arg-type]
    event = record_call_event(
        CallRecorder(CallClock()), RedirectRequested(call, body), lambda _: ()
    )
    assert event == Redirected(
        "http://bot.test/r",
        method="GET",
        fallback=Fallback("http://bot.test/f", "POST", "fu", "fp"),
        tag="from-api",
    )


def test_tag_text_is_trimmed_and_an_empty_one_clears() -> None:
    """<Tag> sets the trimmed text; an empty <Tag/> clears the tag (docs/bandwidth.md §2.1)."""
    xml = "<Response><Tag>  after intro </Tag><Tag/><Hangup/></Response>"
    steps = tuple(plan(parse_bxml(xml, context="webhook"), BASE))
    out = _runner().handle(Started(steps), 0.0)
    assert [c for c in out if isinstance(c, SetTag)] == [SetTag("after intro"), SetTag("")]
