"""The pure parts of bwsim's Locust support: failures, the generator's health, the router URL."""

from __future__ import annotations

import pytest

from simulator.locust.engine import (
    REFUSED_PAUSE_S,
    CallReport,
    Sample,
    failure_reason,
    judge_health,
    pause_after,
    router_base_url,
)

CALL = "c-0a1b2c3d-4e5f6a7b-1234-4abc-8def-0123456789ab"
STREAM = "s-0a1b2c3d-4e5f6a7b-1234-4abc-8def-0123456789ab"


def test_failure_reason_leaves_out_ids_and_moments() -> None:
    """Two calls failing the same way give one failure text (one row in Locust's table)."""
    first = failure_reason([f"orphaned-leg: call {CALL} stream {STREAM} was left at 2140 ms"])
    other = failure_reason(
        [f"orphaned-leg: call {CALL.replace('4e5f', '9999')} stream {STREAM} was left at 87 ms"]
    )
    assert first == other == "orphaned-leg: call {callId} stream {streamId} was left at … ms"


def test_failure_reason_keeps_the_budget_and_counts_the_rest() -> None:
    """A turn's budget stays in the text; further problems are counted, not listed."""
    reason = failure_reason(
        [
            "the bot did not answer caller turn 1 (speech ended at 1234 ms): "
            "nothing audible within 1500 ms",
            "second problem",
            "third problem",
        ]
    )
    assert reason == (
        "the bot did not answer caller turn 1 (speech ended at … ms): "
        "nothing audible within 1500 ms (and 2 more)"
    )


def test_health_within_budget_is_trusted() -> None:
    """Frames at most 2 ms late and half a core: not overloaded, p99 reported."""
    health = judge_health([0.1] * 99 + [2.0], 50.0, pacing_budget_ms=5.0, cpu_budget=90.0)
    assert not health.overloaded
    assert health.pacing_p99_ms == 2.0


def test_late_frames_mark_the_generator_overloaded() -> None:
    """A p99 over the pacing budget is the generator's fault, said with both figures."""
    health = judge_health([1.0] * 90 + [12.0] * 10, 40.0, pacing_budget_ms=5.0, cpu_budget=90.0)
    assert health.overloaded
    assert health.reason == "pacing p99 12.0 ms is over the 5 ms budget"


def test_a_saturated_core_marks_the_generator_overloaded() -> None:
    """CPU over its budget is overloaded even with no frame to judge in the interval."""
    health = judge_health([], 97.0, pacing_budget_ms=5.0, cpu_budget=90.0)
    assert health.pacing_p99_ms is None
    assert health.reason == "CPU 97% of a core is over the 90% budget"


def test_router_url_is_the_routers_address() -> None:
    """The router's address is taken as it is, a trailing slash dropped."""
    assert router_base_url("http://10.0.0.5:9050/") == "http://10.0.0.5:9050"


def test_router_url_with_the_bots_path_says_to_drop_it() -> None:
    """The bot's Voice API URL given as --bwsim-router: the error names the address to give."""
    with pytest.raises(
        ValueError,
        match=r"has a path: give the router's address alone, "
        r"http://127\.0\.0\.1:9050 ",
    ):
        router_base_url("http://127.0.0.1:9050/api/v2")


def test_router_url_without_a_scheme_asks_for_http() -> None:
    """``HOST:PORT`` alone is not a URL: the error shows the form to give."""
    with pytest.raises(ValueError, match=r"is not a URL: give the router's address, http://HOST"):
        router_base_url("127.0.0.1:9050")


def test_a_user_pauses_only_after_a_call_that_got_no_media_stream() -> None:
    """A refused call (no setup sample) is followed by a pause; a call that streamed is not."""
    refused = CallReport("c-1", [Sample("call", 12.0, "the bot answered 401")], ["401"])
    streamed = CallReport("c-2", [Sample("call", 9000.0), Sample("setup", 40.0)], [])
    assert pause_after(refused) == REFUSED_PAUSE_S > 0
    assert pause_after(streamed) == 0.0
