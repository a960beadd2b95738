"""The reference bot as the tests run it: on loopback, in-process, with short scripts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import yaml
from fastapi import FastAPI

from bot.config import Settings
from simulator.runner.servers import serve
from simulator.standins import DEFAULT_SCRIPT
from tests.integration.bandwidth_client import WEBHOOK_PASSWORD, WEBHOOK_USER

SETTINGS = Settings(
    proxy_host="bot.example",
    client_id="cid",
    client_secret="csecret",
    webhook_username=WEBHOOK_USER,
    webhook_password=WEBHOOK_PASSWORD,
    human_agent_number="+19195550123",
    # Nothing here may leave loopback: a closed local port stands in for Bandwidth.
    oauth_url="http://127.0.0.1:9/api/v1/oauth2/token",
    voice_api_url="http://127.0.0.1:9/api/v2",
)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[str]:
    """The app under a real uvicorn on loopback; yields its base URL."""
    async with serve(app) as server:
        yield server.base_url


def short_script(tmp_path: Path, caller_line: str, **lines: str | list[str]) -> Path:
    """The default script with short lines (or ``lines``), so a call takes a few seconds."""
    data = yaml.safe_load(DEFAULT_SCRIPT.read_text(encoding="utf-8"))
    data |= {
        "greeting": "Hi.",
        "transfer_line": "One moment.",
        "farewell": "Bye now.",
        "caller_lines": [caller_line],
        **lines,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path
