"""What a bot bwsim starts is given: the shared secrets, and which of bwsim's variables.

:class:`BotCredentials` holds the secrets bot and simulator share (OAuth client, webhook
credentials, the control API's token), generated per run and handed over as the variables
of the guide's ``env.example``. :func:`bot_variables` is the one list of the variables
bwsim gives a bot, for the bots it starts and for the exports ``bwsim serve`` prints. A
bot gets a clean environment (:func:`inherited_env`): the allowlist :data:`ALLOWED_ENV`
(and :data:`ALLOWED_ENV_PREFIXES`) of bwsim's own, plus what the user names with
``--pass-env`` (:data:`PASS_ENV_VAR`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from simulator.rest.control_guard import TOKEN_VAR, new_control_token

__all__ = [
    "ALLOWED_ENV",
    "ALLOWED_ENV_PREFIXES",
    "DEFAULT_PHONE_NUMBER",
    "NO_WEBHOOK_CREDENTIALS",
    "PASS_ENV_VAR",
    "PROXY_HOST",
    "STANDINS_VAR",
    "BotCredentials",
    "allowed_env",
    "bot_variables",
    "inherited_env",
    "passed_env_names",
    "standins_setting",
    "url_variables",
]

DEFAULT_PHONE_NUMBER = "+15555550199"
"""The bot's own number: ``to`` of the inbound calls bwsim places, ``from`` of its own."""
PROXY_HOST = "bot.bwsim.localhost"
"""``PROXY_HOST`` given to bots bwsim starts; ``.localhost`` names are loopback (RFC 6761)."""
NO_WEBHOOK_CREDENTIALS = (
    "BANDWIDTH_WEBHOOK_USERNAME/PASSWORD are not set: webhooks go without credentials, so a "
    "bot that checks them (as the guide's does) answers 401 and its calls fail; export the "
    "values the bot runs with"
)
"""The warning for a bot bwsim did not start (``--url``, Locust) whose webhook credentials
bwsim was not given (:meth:`BotCredentials.from_environment`)."""


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
STANDINS_VAR = "BWSIM_STANDINS"
"""``1``: a bot that offers ``simulator.standins`` (offline speech) picks them under bwsim;
bwsim gives ``1`` unless its own environment sets it (``0`` keeps a bot on its providers)."""
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


def inherited_env(pass_env: Iterable[str] | None = None) -> dict[str, str]:
    """What a bot bwsim starts keeps of bwsim's environment: nothing it was not meant to have.

    The allowlist (:func:`allowed_env`) and the variables named in ``pass_env`` (default:
    ``$BWSIM_PASS_ENV``, which ``--pass-env`` fills) that are set here.
    """
    names = passed_env_names() if pass_env is None else pass_env
    env = {k: v for k, v in os.environ.items() if allowed_env(k)}
    env.update({k: os.environ[k] for k in names if k in os.environ})
    return env


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


def url_variables(api_base: str) -> dict[str, str]:
    """The OAuth, Voice API and control URLs of bwsim at ``api_base`` (a fake, a router)."""
    base = api_base.rstrip("/")
    return {
        "BANDWIDTH_OAUTH_URL": f"{base}/api/v1/oauth2/token",
        "BANDWIDTH_VOICE_API_URL": f"{base}/api/v2",
        "BWSIM_CONTROL_URL": f"{base}/_bwsim",
    }


def bot_variables(
    credentials: BotCredentials,
    api_base: str,
    *,
    port: int | None,
    proxy_host: str = PROXY_HOST,
    account_id: str | None = None,
    api_urls: bool = False,
) -> dict[str, str]:
    """Every variable bwsim gives a bot: the one place that says which.

    The guide's ``env.example`` variables (:meth:`BotCredentials.environment`, with
    ``PORT`` when ``port`` is given), ``BANDWIDTH_ACCOUNT_ID`` when ``account_id`` is
    given, the fake's OAuth and Voice API URLs with ``api_urls`` (``bwsim serve``'s
    exports, for a bot started by hand that may not load the interception), the control
    API's URL and token (``BWSIM_CONTROL_URL``, ``BWSIM_CONTROL_TOKEN``; the URLs are
    :func:`url_variables`'s) and
    :data:`STANDINS_VAR`. The interception's ``PYTHONPATH``/``BWSIM_INTERCEPT`` come from
    :func:`simulator.rest.intercept.child_environment`.
    """
    env = credentials.environment(port=port, proxy_host=proxy_host)
    if account_id is not None:
        env["BANDWIDTH_ACCOUNT_ID"] = account_id
    urls = url_variables(api_base)
    if not api_urls:
        urls = {"BWSIM_CONTROL_URL": urls["BWSIM_CONTROL_URL"]}
    env.update(urls)
    env[TOKEN_VAR] = credentials.control_token
    env[STANDINS_VAR] = standins_setting()
    return env


def standins_setting() -> str:
    """:data:`STANDINS_VAR` for a bot: bwsim's own setting, else ``1`` (offline stand-ins)."""
    return os.environ.get(STANDINS_VAR, "1")
