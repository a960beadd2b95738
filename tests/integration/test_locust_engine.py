"""A Locust worker's engine placing a call to a bot that wants webhook credentials."""

from __future__ import annotations

from typing import Any

from simulator.call.live import LiveCall
from simulator.locust.engine import CallEngine, EngineSettings, failure_reason
from simulator.rest.relay import lifespan
from simulator.runner.bot_env import BotCredentials
from simulator.runner.servers import serve

UNSET = BotCredentials(
    client_id="bot-client", client_secret="bot-secret", webhook_username="", webhook_password=""
)
"""What a worker has when BANDWIDTH_WEBHOOK_USERNAME/PASSWORD are unset where Locust runs."""


async def _asks_for_basic(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bot's webhook that answers every request 401 with a Basic challenge, as the guide's."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"www-authenticate", b'Basic realm="bot"'), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _say_nothing(call: LiveCall) -> None:
    """A caller that never gets to speak: the call ends at its webhook."""


async def test_unset_webhook_credentials_fail_the_call_naming_what_to_export() -> None:
    """Locust's failure text for a bot refusing credential-less webhooks names the variables."""
    engine = CallEngine(EngineSettings(credentials=UNSET))
    await engine.start()
    try:
        async with serve(_asks_for_basic) as bot:
            report = await engine.place(bot.base_url, _say_nothing, max_call_s=10)
    finally:
        await engine.stop()
    reason = failure_reason(report.problems)
    assert "the bot asked for Basic credentials" in reason, report.problems
    assert "BANDWIDTH_WEBHOOK_USERNAME and BANDWIDTH_WEBHOOK_PASSWORD" in reason, reason
