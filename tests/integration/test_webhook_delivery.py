"""The webhooks after ``initiate`` as a real bot on loopback receives them.

``tests/bots/callback_bot.py`` runs under a real uvicorn and records every request whole
(method, query, raw body, Authorization), so these tests assert exactly what went on the
wire: GET webhooks as query parameters, the verb's and ``<Tag>``'s tag, ``answerTime`` in
the mediaStream* webhooks, the fallback URL with its own method and credentials, and the
``disconnect`` at the end with the cause and the application's credentials.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import callback_bot

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")

COMMON = {"eventType", "eventTime", "accountId", "applicationId", "from", "to", "direction"}
COMMON |= {"callId", "callUrl", "startTime"}


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A fake Bandwidth with the recording callback bot as its target."""
    callback_bot.SEEN.clear()
    async with serve(callback_bot.app) as bot, Harness(UrlTarget(bot.base_url)) as h:
        yield h


def _opts(path: str, **kw: Any) -> CallOptions:
    base: dict[str, Any] = {
        "webhook_path": path,
        "auth_mode": "preemptive",
        "webhook_username": "app-user",
        "webhook_password": "app-pass",
        "max_call_s": 20,
    }
    return CallOptions(**{**base, **kw})


async def _stay(call: LiveCall) -> None:
    await call.wait_for("stream-accepted", timeout_ms=5000)
    await call.pause(100)


async def _until_the_end(call: LiveCall) -> None:
    await call.wait_for("call-ended", timeout_ms=15_000)


def _seen(name: str) -> list[dict[str, Any]]:
    return [r for r in callback_bot.SEEN if r["name"] == name]


async def test_get_webhooks_carry_their_fields_as_query_parameters(harness: Harness) -> None:
    """redirectMethod/streamEventMethod GET: no body, every field in the query, tags passed on."""
    result = await harness.place_call(_stay, options=_opts("/get-flow"))
    [redirect] = _seen("redirect")
    assert (redirect["method"], redirect["body"]) == ("GET", "")
    query = redirect["query"]
    assert set(query) == COMMON | {"tag"}
    assert (query["eventType"], query["callId"], query["tag"]) == (
        "redirect",
        result.call_id,
        "t-redirect",
    )
    started, stopped = _seen("stream")
    for request, event in ((started, "mediaStreamStarted"), (stopped, "mediaStreamStopped")):
        assert (request["method"], request["body"]) == ("GET", "")
        q = request["query"]
        assert q["eventType"] == event
        assert q["tag"] == "t-tagverb"  # <Tag> in the redirect's answer replaced the verb's
        assert q["answerTime"].endswith("Z")  # the call was answered by <StartStream>
        stream = json.loads(q["mediaStream"])  # bwsim's fixed encoding of a nested object
        assert (stream["name"], stream["tracks"], stream["type"]) == ("s", ["inbound"], "WebSocket")
    assert set(started["query"]) == COMMON | {"tag", "answerTime", "mediaStream"}
    assert set(stopped["query"]) == COMMON | {"tag", "answerTime", "mediaStream", "cause"}
    assert stopped["query"]["cause"] == "closed"
    kinds = [(e.detail["event"], e.detail["method"]) for e in result.events("callback")]
    assert kinds == [
        ("redirect", "GET"),
        ("mediaStreamStarted", "GET"),
        ("mediaStreamStopped", "GET"),
    ]


async def test_disconnect_goes_to_the_status_path_with_cause_tag_and_credentials(
    harness: Harness,
) -> None:
    """The disconnect is POSTed as JSON to disconnect_path with the cause, tag and Basic creds."""
    result = await harness.place_call(
        _stay, options=_opts("/get-flow", disconnect_path="/rec/status")
    )
    [status] = _seen("status")
    assert status["method"] == "POST"
    assert status["query"] == {}
    assert status["authorization"] == callback_bot.APP_AUTH  # preemptive, as the initiate
    body = json.loads(status["body"])
    assert set(body) == COMMON | {"answerTime", "endTime", "cause", "tag"}
    assert (body["eventType"], body["callId"], body["cause"], body["tag"]) == (
        "disconnect",
        result.call_id,
        "hangup",
        "t-tagverb",
    )
    [sent] = [e for e in result.events("callback") if e.detail["event"] == "disconnect"]
    assert (sent.detail["delivered"], sent.detail["cause"]) == (True, "hangup")
    assert result.summary()["callbacks"][-1]["event"] == "disconnect"
    assert not result.violations


@pytest.mark.parametrize(
    ("path", "cause"), [("/fail/initiate", "callback-error"), ("/bad-bxml", "invalid-bxml")]
)
async def test_disconnect_cause_says_how_the_call_ended(
    harness: Harness, path: str, cause: str
) -> None:
    """An initiate answered 503 ends callback-error, invalid BXML invalid-bxml: so says the body."""
    await harness.place_call(None, options=_opts(path, disconnect_path="/rec/status"))
    [status] = _seen("status")
    body = json.loads(status["body"])
    assert (body["cause"], body["eventType"]) == (cause, "disconnect")
    assert body["errorMessage"]  # the reason, as Bandwidth gives one for a failure
    assert "answerTime" not in body  # the call was never answered


async def test_disconnect_answers_a_basic_challenge_with_the_app_credentials(
    harness: Harness,
) -> None:
    """Under the challenge flow the disconnect goes bare, then again with CallbackCreds on 401."""
    options = _opts("/get-flow", disconnect_path="/auth/status", auth_mode="challenge")
    result = await harness.place_call(_stay, options=options)
    bare, authorised = _seen("status")
    assert (bare["authorization"], authorised["authorization"]) == (None, callback_bot.APP_AUTH)
    assert bare["body"] == authorised["body"]
    [sent] = [e for e in result.events("callback") if e.detail["event"] == "disconnect"]
    assert (sent.detail["outcome"], sent.detail["status"]) == ("challenge-ok", 200)


async def test_a_disconnect_the_bot_refuses_is_a_violation(harness: Harness) -> None:
    """A bot that answers its disconnect with 503 is told its cleanup never ran."""
    result = await harness.place_call(_stay, options=_opts("/get-flow", disconnect_path="/fail/s"))
    [request] = _seen("s")
    assert json.loads(request["body"])["cause"] == "hangup"
    [violation] = result.violations
    assert violation.kind == "disconnect-undelivered"
    assert "cleanup does not run" in violation.detail


async def test_a_failed_redirect_goes_to_the_fallback_with_its_method_and_credentials(
    harness: Harness,
) -> None:
    """503 at redirectUrl: the webhook goes to redirectFallbackUrl as GET with fallback creds."""
    result = await harness.place_call(_until_the_end, options=_opts("/fallback-flow"))
    [failed] = _seen("redirect")
    assert (failed["kind"], failed["method"]) == ("fail", "POST")
    primary = json.loads(failed["body"])
    challenged, accepted = _seen("fallback")
    for request in (challenged, accepted):
        assert (request["method"], request["body"]) == ("GET", "")
        assert request["query"] == {k: str(v) for k, v in primary.items()}
    assert challenged["authorization"] is None  # the challenge flow of docs/bandwidth.md §2.8
    assert accepted["authorization"] == callback_bot.FALLBACK_AUTH
    assert result.disconnect_cause == "hangup"  # the fallback's <Hangup/>, not callback-error
    [sent] = result.events("callback")
    assert (sent.detail["fallback"], sent.detail["delivered"]) == (True, True)


async def test_fallback_on_no_answer_leaves_an_error_status_alone(harness: Harness) -> None:
    """fallback_on='no-answer': a 503 is an answer, so no fallback; the call ends callback-error."""
    result = await harness.place_call(
        _until_the_end, options=_opts("/fallback-flow", fallback_on="no-answer")
    )
    assert len(_seen("redirect")) == 1
    assert _seen("fallback") == []
    assert result.disconnect_cause == "callback-error"
    assert [v.kind for v in result.violations] == ["callback-error"]
    [sent] = result.events("callback")
    assert (sent.detail["fallback"], sent.detail["status"]) == (False, 503)


BOT = ("--app", "tests.bots.callback_bot:app")
SUITE = """\
call: {webhook_path: /get-flow, disconnect_path: /rec/status, max_call_s: 20}
allow_violations: [webhook-auth]
scenarios:
  - name: cleanup is told
    caller:
      - wait_for: stream_accepted
      - hangup
    expect:
      - callback: {event: disconnect, delivered: true, cause: hangup, count: 1}
      - callback: {event: mediaStreamStarted, method: GET}
  - name: status route is broken
    call: {webhook_path: /get-flow, disconnect_path: /fail/status}
    caller:
      - wait_for: stream_accepted
      - hangup
    expect:
      - callback: {event: disconnect, delivered: true}
"""


def test_bwsim_run_sends_the_disconnect_and_judges_it(tmp_path: Path) -> None:
    """``bwsim run`` sends call.disconnect_path's disconnect; a refused one fails the scenario."""
    suite = tmp_path / "cleanup.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", "run", str(suite), *BOT, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PASS cleanup/cleanup-is-told" in done.stdout
    assert "FAIL cleanup/status-route-is-broken" in done.stdout
    assert "not delivered (server-error)" in done.stdout
    assert "disconnect-undelivered" in done.stdout
