"""The bot's settings, from the environment, with the names of the guide's ``env.example``."""

from __future__ import annotations

import os
from dataclasses import dataclass

OAUTH_URL = "https://api.bandwidth.com/api/v1/oauth2/token"
VOICE_API_URL = "https://voice.bandwidth.com/api/v2"


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    proxy_host: str
    client_id: str
    client_secret: str
    webhook_username: str
    webhook_password: str
    human_agent_number: str
    oauth_url: str = OAUTH_URL
    voice_api_url: str = VOICE_API_URL
    redis_url: str | None = None
    outbound_encoding: str = "pcmu"
    keepalive: str = "pause"
    token_ttl_s: float = 60.0
    greeting: str = "Hello! Thanks for calling. How can I help you today?"

    @property
    def webhook_configured(self) -> bool:
        """Whether webhook credentials are set (without them every webhook is refused)."""
        return bool(self.webhook_username and self.webhook_password)

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings now (tests change the environment between apps)."""
        env = os.environ
        encoding = env.get("BOT_OUTBOUND_ENCODING", "pcmu")
        if encoding not in ("pcmu", "pcm24k"):
            msg = f"BOT_OUTBOUND_ENCODING must be pcmu or pcm24k, got {encoding!r}"
            raise ValueError(msg)
        keepalive = env.get("BOT_KEEPALIVE", "pause")
        if keepalive not in ("pause", "stopstream"):
            msg = f"BOT_KEEPALIVE must be pause or stopstream, got {keepalive!r}"
            raise ValueError(msg)
        return cls(
            proxy_host=env.get("PROXY_HOST", ""),
            client_id=env.get("BANDWIDTH_CLIENT_ID", ""),
            client_secret=env.get("BANDWIDTH_CLIENT_SECRET", ""),
            webhook_username=env.get("BANDWIDTH_WEBHOOK_USERNAME", ""),
            webhook_password=env.get("BANDWIDTH_WEBHOOK_PASSWORD", ""),
            human_agent_number=env.get("HUMAN_AGENT_NUMBER", ""),
            oauth_url=env.get("BANDWIDTH_OAUTH_URL", OAUTH_URL),
            voice_api_url=env.get("BANDWIDTH_VOICE_API_URL", VOICE_API_URL).rstrip("/"),
            redis_url=env.get("REDIS_URL") or None,
            outbound_encoding=encoding,
            keepalive=keepalive,
            token_ttl_s=float(env.get("BOT_TOKEN_TTL_S", "60")),
        )
