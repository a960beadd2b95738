"""A call recorded the way a team records one in staging, offline.

bwsim plays Bandwidth, and the capture proxy (``bwsim record``'s
:class:`~simulator.record.Recorder`, real uvicorn on loopback) stands in front of a real
bot and of the fake Voice API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.record import Recorder, bind_socket
from simulator.record.voice_api import OAUTH_PATH, VOICE_API_PREFIX
from simulator.runner.harness import Harness
from simulator.runner.targets import AppTarget


@dataclass
class Recording:
    """One recorded call: what bwsim saw of it, the archive folder, the hang-ups the fake got."""

    result: CallResult
    folder: Path
    hangup_statuses: list[int | None]


async def record_call(
    app: str,
    archive_dir: Path,
    caller: Caller,
    *,
    bot_env: Mapping[str, str] | None = None,
    **options: Any,
) -> Recording:
    """Serve ``app``, put the recorder in front of it and its Voice API, place one call."""
    sock = bind_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {
        **(bot_env or {}),
        "BANDWIDTH_VOICE_API_URL": url + VOICE_API_PREFIX,
        "BANDWIDTH_OAUTH_URL": url + OAUTH_PATH,
    }
    async with Harness(AppTarget(app), bot_env=env) as harness:
        assert harness.bot is not None
        async with Recorder(
            harness.bot.base_url,
            archive_dir,
            sock=sock,
            voice_api=harness.api_base + "/api/v2",
            oauth_url=harness.api_base + "/api/v1/oauth2/token",
        ) as recorder:
            call_options = CallOptions(
                webhook_username=harness.credentials.webhook_username,
                webhook_password=harness.credentials.webhook_password,
                **options,
            )
            session = CallSession(harness.fake, recorder.url, options=call_options, caller=caller)
            result = await session.run()
        hangups = [e.status for e in harness.fake.journal.hangups(result.call_id)]
        (folder,) = recorder.written
    return Recording(result, folder, hangups)
