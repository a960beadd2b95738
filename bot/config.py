"""The bot's settings, from the environment, with the names of the guide's ``env.example``.

Read when an app is created (``Settings.from_env()``), not at import, so a test can set
the environment and build an app. Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from simulator.standins.script import DEFAULT_SCRIPT

OAUTH_URL = "https://api.bandwidth.com/api/v1/oauth2/token"
VOICE_API_URL = "https://voice.bandwidth.com/api/v2"

ENCODINGS = ("pcmu", "pcm24k")
"""``pcmu``: μ-law 8 kHz playAudio (the guide's default); ``pcm24k``: PCM 24 kHz."""
KEEPALIVES = ("pause", "stopstream")
"""What holds the call while the stream runs: ``<Pause duration="86400"/>`` (the guide's
choice) or ``<StopStream name="bot" wait="true"/>``."""


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default) or default
    if value not in allowed:
        msg = f"{name} must be one of {', '.join(allowed)}; got {value!r}"
        raise ValueError(msg)
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        msg = f"{name} must be a positive number of seconds; got {raw!r}"
        raise ValueError(msg)
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    proxy_host: str
    client_id: str
    client_secret: str = field(repr=False)
    webhook_username: str
    webhook_password: str = field(repr=False)
    human_agent_number: str
    oauth_url: str = OAUTH_URL
    voice_api_url: str = VOICE_API_URL
    redis_url: str | None = field(default=None, repr=False)
    outbound_encoding: str = "pcmu"
    keepalive: str = "pause"
    token_ttl_s: float = 60.0
    idle_timeout_s: float = 300.0
    """Pipecat's idle timeout: a call with no speech this long ends (and is hung up)."""
    script_path: Path = DEFAULT_SCRIPT
    control_url: str | None = None
    """The simulator's control API (``BWSIM_CONTROL_URL``): per-call caller lines."""
    deepgram_api_key: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    cartesia_api_key: str | None = field(default=None, repr=False)

    @property
    def webhook_configured(self) -> bool:
        """Whether webhook credentials are set (without them every webhook is refused)."""
        return bool(self.webhook_username and self.webhook_password)

    @property
    def out_sample_rate(self) -> int:
        """The pipeline's output rate: what the serializer sends on without resampling."""
        return 24000 if self.outbound_encoding == "pcm24k" else 8000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings now (tests change the environment between apps)."""
        e = os.environ if env is None else env
        return cls(
            proxy_host=e.get("PROXY_HOST", ""),
            client_id=e.get("BANDWIDTH_CLIENT_ID", ""),
            client_secret=e.get("BANDWIDTH_CLIENT_SECRET", ""),
            webhook_username=e.get("BANDWIDTH_WEBHOOK_USERNAME", ""),
            webhook_password=e.get("BANDWIDTH_WEBHOOK_PASSWORD", ""),
            human_agent_number=e.get("HUMAN_AGENT_NUMBER", ""),
            oauth_url=e.get("BANDWIDTH_OAUTH_URL") or OAUTH_URL,
            voice_api_url=(e.get("BANDWIDTH_VOICE_API_URL") or VOICE_API_URL).rstrip("/"),
            redis_url=e.get("REDIS_URL") or None,
            outbound_encoding=_choice(e, "BOT_OUTBOUND_ENCODING", "pcmu", ENCODINGS),
            keepalive=_choice(e, "BOT_KEEPALIVE", "pause", KEEPALIVES),
            token_ttl_s=_seconds(e, "BOT_TOKEN_TTL_S", 60.0),
            idle_timeout_s=_seconds(e, "BOT_IDLE_TIMEOUT_S", 300.0),
            script_path=Path(e.get("BOT_SCRIPT") or DEFAULT_SCRIPT),
            control_url=(e.get("BWSIM_CONTROL_URL") or "").rstrip("/") or None,
            deepgram_api_key=e.get("DEEPGRAM_API_KEY") or None,
            openai_api_key=e.get("OPENAI_API_KEY") or None,
            cartesia_api_key=e.get("CARTESIA_API_KEY") or None,
        )
