"""A ``<Transfer>`` dials a B-leg: its webhooks, their order and bodies, and the A-leg meanwhile.

The bot (``tests/bots/transfer_bot.py``) runs under a real uvicorn on loopback. Rings and
talks are short (``TransferParty``): what is checked is the order of what happens, never
how long it took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from simulator.call.live import LiveCall
from simulator.call.options import CallOptions
from simulator.call.recorder import TimelineEvent
from simulator.protocol.transfer import TransferParty
from simulator.runner.harness import Harness
from simulator.runner.servers import serve
from simulator.runner.targets import UrlTarget
from tests.bots import transfer_bot
from tests.integration.voice_api_client import bot_api
from tests.unit.test_webhook_schemas import check_against_spec

pytestmark = pytest.mark.usefixtures("calls_that_time_out_fail")

PUT_TRANSFER = f"<Bxml><Transfer><PhoneNumber>{transfer_bot.AGENT}</PhoneNumber></Transfer></Bxml>"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A fake Bandwidth with the transfer bot as its target."""
    transfer_bot.SEEN.clear()
    async with serve(transfer_bot.app) as bot, Harness(UrlTarget(bot.base_url)) as h:
        yield h


def _opts(path: str, **kw: object) -> CallOptions:
    party = TransferParty(**kw.pop("party", {}))  # type: ignore[arg-type]
    base: dict[str, object] = {"webhook_path": path, "max_call_s": 30, "transfer": party}
    base["auth_mode"] = "preemptive"  # the bot checks no credentials
    base.update(kw)
    return CallOptions(**base)  # type: ignore[arg-type]


async def _until_the_end(call: LiveCall) -> None:
    """The caller stays on the line until the call ends."""
    await call.wait_for("call-ended", timeout_ms=20_000)


async def test_answer_disconnect_and_complete_come_in_order_and_fit_the_spec(
    harness: Harness,
) -> None:
    """transferAnswer, transferDisconnect, transferComplete reach their URLs in order, valid."""
    result = await harness.place_call(
        _until_the_end, options=_opts("/transfer", party={"talk_ms": 100})
    )
    assert [path for path, _ in transfer_bot.SEEN] == ["/answer", "/disconnect", "/complete"]
    for _, body in transfer_bot.SEEN:
        check_against_spec(body)
    answer, disconnect, complete = (body for _, body in transfer_bot.SEEN)
    assert answer["transferTo"] == transfer_bot.AGENT
    assert disconnect["parentCallId"] == result.call_id
    assert disconnect["callId"] == answer["callId"] != result.call_id
    assert (disconnect["cause"], complete["cause"]) == ("hangup", "hangup")
    assert complete["callId"] == result.call_id
    kinds = [e.kind for e in result.timeline if e.kind.startswith("transfer-")]
    assert kinds == [
        "transfer-ringing",
        "transfer-answered",
        "transfer-bridged",
        "transfer-leg-ended",
        "transfer-ended",
    ]
    assert result.phase == "disconnected"  # transferComplete's <Hangup/> ended it


async def test_a_busy_target_gets_no_answer_and_complete_carries_busy(harness: Harness) -> None:
    """With the B-leg busy: no transferAnswer; transferDisconnect and transferComplete say busy."""
    options = _opts("/transfer", party={"answer": "busy", "ring_ms": 0})
    await harness.place_call(_until_the_end, options=options)
    assert [path for path, _ in transfer_bot.SEEN] == ["/disconnect", "/complete"]
    for _, body in transfer_bot.SEEN:
        check_against_spec(body)
    disconnect, complete = (body for _, body in transfer_bot.SEEN)
    assert (disconnect["cause"], complete["cause"]) == ("busy", "busy")
    assert complete["errorMessage"]


async def _transfer_then_probe(harness: Harness, options: CallOptions) -> tuple[list[Any], Any]:
    """Put a <Transfer>, then once bridged GET the call and hang it up: what each answered."""
    got: list[Any] = []

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        client, auth = await bot_api(harness)
        path = f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}"
        headers = {**auth, "Content-Type": "application/xml"}
        async with client:
            await client.put(path + "/bxml", content=PUT_TRANSFER, headers=headers)
            await call.wait_for("transfer-bridged", timeout_ms=10_000)
            got.append(await client.get(path, headers=auth))
            got.append(await client.post(path, json={"state": "completed"}, headers=auth))

    return got, await harness.place_call(caller, options=options)


async def test_under_the_guides_account_get_and_post_agree_during_the_bridge(
    harness: Harness,
) -> None:
    """Stream ends: while bridged, GET and POST on the A-leg both answer 404."""
    # The person talks far longer than the probe takes: the bridge is still up for it.
    options = _opts("/listen", party={"talk_ms": 60_000})
    got, result = await _transfer_then_probe(harness, options)
    assert [r.status_code for r in got] == [404, 404]
    assert result.streams[0].stop_sent
    assert not result.violations


async def test_under_the_api_references_account_hanging_up_a_bridged_caller_is_reported(
    harness: Harness,
) -> None:
    """Stream stays: GET says answered, the hang-up works, and it drops the bridged caller."""
    options = _opts("/listen", transfer_stream="stays", party={"talk_ms": 60_000})
    got, result = await _transfer_then_probe(harness, options)
    assert (got[0].json()["state"], got[1].status_code) == ("answered", 200)
    assert [v.kind for v in result.violations] == ["transferred-caller-dropped"]
    assert f"while the caller was bridged to {transfer_bot.AGENT}" in result.violations[0].detail
    bridged = result.events("transfer-bridged")[0].at_ms
    assert not [e for e in result.events("stop-sent") if e.at_ms < bridged]  # the stream stayed


async def test_a_second_transfer_while_bridged_replaces_the_first(harness: Harness) -> None:
    """Stream stays: a new <Transfer> put while bridged ends the first; the second is bridged."""
    second = "+15555550124"

    async def caller(call: LiveCall) -> None:
        await call.wait_for("stream-accepted", timeout_ms=5000)
        client, auth = await bot_api(harness)
        path = f"/api/v2/accounts/{call.account_id}/calls/{call.call_id}/bxml"
        headers = {**auth, "Content-Type": "application/xml"}
        again = PUT_TRANSFER.replace(transfer_bot.AGENT, second)
        async with client:
            await client.put(path, content=PUT_TRANSFER, headers=headers)
            first = await call.wait_for("transfer-bridged", timeout_ms=10_000)
            await client.put(path, content=again, headers=headers)
        await call.wait_for(
            "transfer-bridged", timeout_ms=10_000, after_ms=first.at_ms, where=_to(second)
        )

    options = _opts("/listen", transfer_stream="stays", party={"talk_ms": 60_000})
    result = await harness.place_call(caller, options=options)
    ended = [(e.detail["to"], e.detail["bridged"]) for e in result.events("transfer-ended")]
    assert ended == [(transfer_bot.AGENT, True), (second, True)]


def _to(number: str) -> Callable[[TimelineEvent], bool]:
    return lambda e: e.detail.get("to") == number
