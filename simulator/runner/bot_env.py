"""What a bot bwsim starts is given: the shared secrets, and which of bwsim's variables.

:class:`BotCredentials` holds the secrets bot and simulator share (OAuth client, webhook
credentials, the control API's token), generated per run and handed over as the variables
of the guide's ``env.example``. A bot gets a clean environment: the allowlist
:data:`ALLOWED_ENV` (and :data:`ALLOWED_ENV_PREFIXES`) of bwsim's own, plus what the
user names with ``--pass-env`` (:data:`PASS_ENV_VAR`).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from simulator.rest.control_guard import TOKEN_VAR, new_control_token

__all__ = [
    "ALLOWED_ENV",
    "ALLOWED_ENV_PREFIXES",
    "DEFAULT_PHONE_NUMBER",
    "PASS_ENV_VAR",
    "PROXY_HOST",
    "BotCredentials",
    "allowed_env",
    "passed_env_names",
]

DEFAULT_PHONE_NUMBER = "+15555550199"
"""The bot's own number: ``to`` of the inbound calls bwsim places, ``from`` of its own."""
PROXY_HOST = "bot.bwsim.localhost"
"""``PROXY_HOST`` given to bots bwsim starts; ``.localhost`` names are loopback (RFC 6761)."""


ALLOWED_ENV = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "TMPDIR", "LANG"),
        *("LANGUAGE", "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR"),
        *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"),
        *("http_proxy", "https_proxy", "all_proxy", "no_proxy"),
    }
)
"""Variables of bwsim's own environment a bot it starts gets as they are.

What the bot needs to run at all (``PATH``, ``HOME``, the user, shell and terminal, the
locale and time zone, the temporary folder, the virtual environment) and to reach the
network the way this machine does (CA certificates and proxies, which matter only for
hosts allowed with ``--allow-host``). Nothing that chooses how the bot behaves: an
``OPENAI_API_KEY`` or ``REDIS_URL`` reaches it only when named with ``--pass-env``.
``PYTHONPATH`` is kept too, after the bootstrap folder of the interception."""
ALLOWED_ENV_PREFIXES = ("LC_", "BWSIM_")
"""Prefixes of the same: the locale's ``LC_*``, and bwsim's own ``BWSIM_*`` settings
(``BWSIM_STANDINS=0`` keeps a bot on its providers)."""
PASS_ENV_VAR = "BWSIM_PASS_ENV"  # noqa: S105 - a variable name, not a password
"""Comma-separated names of variables bwsim passes on to the bots it starts, on top of
:data:`ALLOWED_ENV` (``--pass-env NAME`` adds to it)."""


def passed_env_names(*, present: bool = False) -> tuple[str, ...]:
    """The names in ``$BWSIM_PASS_ENV``, in order, without repeats or blanks.

    With ``present``, only those set in this environment: the ones a bot really gets.
    """
    names = (n.strip() for n in os.environ.get(PASS_ENV_VAR, "").split(","))
    return tuple(n for n in dict.fromkeys(names) if n and (not present or n in os.environ))


def allowed_env(name: str) -> bool:
    """Whether a bot bwsim starts gets variable ``name`` of bwsim's environment as it is."""
    return name in ALLOWED_ENV or name.startswith(ALLOWED_ENV_PREFIXES)


@dataclass(frozen=True)
class BotCredentials:
    """The secrets bot and simulator share; generated per run.

    ``control_token`` is the token of the simulator's control API (``/_bwsim/*``), given
    to the bots bwsim starts as ``$BWSIM_CONTROL_TOKEN``.
    """

    client_id: str
    client_secret: str
    webhook_username: str
    webhook_password: str
    human_agent_number: str = "+19195550123"
    account_id: str = ""
    """The fake's account, given as ``BANDWIDTH_ACCOUNT_ID`` (for Create Call's path)."""
    application_id: str = ""
    """Its Voice application, given as ``BANDWIDTH_APPLICATION_ID`` (Create Call's field)."""
    phone_number: str = DEFAULT_PHONE_NUMBER
    """The bot's own number, given as ``BANDWIDTH_PHONE_NUMBER`` (Create Call's ``from``)."""
    control_token: str = field(default_factory=new_control_token, repr=False, compare=False)

    @classmethod
    def generate(
        cls, client_id: str, client_secret: str, *, account_id: str = "", application_id: str = ""
    ) -> BotCredentials:
        """Fresh webhook credentials for the given OAuth client (and its account)."""
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            account_id=account_id,
            application_id=application_id,
            webhook_username=f"bwsim-{secrets.token_hex(4)}",
            webhook_password=secrets.token_urlsafe(18),
        )

    @classmethod
    def from_environment(cls) -> BotCredentials | None:
        """The secrets of a bot started by hand (``--url``), from the variables it reads.

        None unless ``BANDWIDTH_CLIENT_ID`` and ``BANDWIDTH_CLIENT_SECRET`` are set; the
        webhook credentials may be missing (then the webhook goes without them). A
        ``BWSIM_CONTROL_TOKEN`` set for both becomes the control API's token, so a bot on
        the stand-ins can fetch its caller lines.
        """
        if not (
            os.environ.get("BANDWIDTH_CLIENT_ID") and os.environ.get("BANDWIDTH_CLIENT_SECRET")
        ):
            return None
        return cls(
            client_id=os.environ["BANDWIDTH_CLIENT_ID"],
            client_secret=os.environ["BANDWIDTH_CLIENT_SECRET"],
            webhook_username=os.environ.get("BANDWIDTH_WEBHOOK_USERNAME", ""),
            webhook_password=os.environ.get("BANDWIDTH_WEBHOOK_PASSWORD", ""),
            control_token=os.environ.get(TOKEN_VAR) or new_control_token(),
            account_id=os.environ.get("BANDWIDTH_ACCOUNT_ID", ""),
            application_id=os.environ.get("BANDWIDTH_APPLICATION_ID", ""),
            phone_number=os.environ.get("BANDWIDTH_PHONE_NUMBER") or DEFAULT_PHONE_NUMBER,
        )

    def environment(self, *, port: int | None, proxy_host: str = PROXY_HOST) -> dict[str, str]:
        """The guide's ``env.example`` variables, filled in."""
        env = {
            "PROXY_HOST": proxy_host,
            "BANDWIDTH_CLIENT_ID": self.client_id,
            "BANDWIDTH_CLIENT_SECRET": self.client_secret,
            "BANDWIDTH_WEBHOOK_USERNAME": self.webhook_username,
            "BANDWIDTH_WEBHOOK_PASSWORD": self.webhook_password,
            "HUMAN_AGENT_NUMBER": self.human_agent_number,
            "BANDWIDTH_PHONE_NUMBER": self.phone_number,
        }
        if self.account_id:
            env["BANDWIDTH_ACCOUNT_ID"] = self.account_id
        if self.application_id:
            env["BANDWIDTH_APPLICATION_ID"] = self.application_id
        if port is not None:
            env["PORT"] = str(port)
        return env
