"""A bot answering BXML Bandwidth would refuse: the call ends invalid-bxml, naming line and fix.

The bot is a few lines of FastAPI under a real uvicorn on loopback, answering the initiate
webhook with the BXML of the path it is called on (docs/bandwidth.md §3.6). It serves no
WebSocket: a stream it asks for is refused, which is no BXML error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from simulator.call.options import CallOptions
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")

ANSWERS = {
    "/misspelt": (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
        '  <StartStream destination="wss://bot.example/ws" destinationUserName="u"'
        ' destinationPassword="p"/>\n'
        '  <Pause duration="1"/>\n</Response>'
    ),
    "/spelt": (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
        '  <StartStream destination="wss://bot.example/ws" destinationUsername="u"'
        ' destinationPassword="p"/>\n'
        '  <Pause duration="0.2"/>\n</Response>'
    ),
}

app = FastAPI()


@app.post("/{path}")
async def initiate(path: str) -> Response:
    """Answer the initiate webhook with the BXML named by the path."""
    return Response(ANSWERS[f"/{path}"], media_type="application/xml")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A fake Bandwidth whose target is the BXML-answering bot."""
    async with serve(app) as bot, Harness(UrlTarget(bot.base_url)) as h:
        yield h


def _options(path: str) -> CallOptions:
    return CallOptions(webhook_path=path, auth_mode="preemptive", max_call_s=20)


async def test_a_misspelt_stream_credential_ends_the_call_naming_line_and_fix(
    harness: Harness,
) -> None:
    """<StartStream destinationUserName> ends the call invalid-bxml: line 3, destinationUsername."""
    result = await harness.place_call(options=_options("/misspelt"))
    assert result.disconnect_cause == "invalid-bxml"
    [violation] = result.violations
    assert violation.rule == "unknown-attribute"
    assert violation.evidence["line"] == 3
    assert "line 3: <StartStream> has no attribute 'destinationUserName'" in violation.detail
    assert "did you mean 'destinationUsername'?" in violation.detail
    assert not result.streams
    harness.fake.journal.violations.clear()


async def test_the_right_spelling_is_not_refused(harness: Harness) -> None:
    """The same answer spelt destinationUsername is not invalid-bxml."""
    result = await harness.place_call(options=_options("/spelt"))
    assert result.disconnect_cause != "invalid-bxml"
    assert all(v.rule != "unknown-attribute" for v in result.violations)
    harness.fake.journal.violations.clear()
