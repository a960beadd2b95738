"""Voice webhook delivery: the sender that posts a body to the bot as Bandwidth does.

:func:`send_webhook` delivers one webhook as Bandwidth does (docs/bandwidth.md §2.1,
docs/bandwidth.md §2.8) and returns a :class:`WebhookExchange` recording every attempt. A refused
connection, a timeout or a bad answer is an *outcome*, never an exception. The bodies
come from :mod:`simulator.protocol.webhook_bodies`.

Authentication and the signing extension are pure logic and live in
:mod:`simulator.protocol.webhook_auth` (:class:`WebhookAuth`, :func:`basic_authorization`)
and :mod:`simulator.protocol.webhook_signing` (:class:`Signing`); import them from there.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

import httpx

from simulator.errors import ConfigError
from simulator.protocol.webhook_auth import (
    NO_CREDENTIALS_HINT,
    AuthMode,
    AuthSent,
    WebhookAuth,
    names_basic,
)
from simulator.protocol.webhook_bodies import ASYNC_EVENTS, SYNC_EVENTS, InvalidWebhookBody
from simulator.protocol.webhook_signing import Signing
from simulator.rest.journal import redact_headers

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "OUTCOMES",
    "WEBHOOK_LIMITS",
    "Outcome",
    "WebhookAttempt",
    "WebhookExchange",
    "send_webhook",
]


# Idle connections go after 1 s, before a bot's server closes them (uvicorn: 5 s, which
# is httpx's default too: a webhook sent as the bot closed one failed with ReadError).
WEBHOOK_LIMITS: Final = httpx.Limits(keepalive_expiry=1.0)
DEFAULT_TIMEOUT_S: Final = 15.0
"""Bandwidth's default webhook timeout (``callbackTimeout``, 1-25 s; docs/bandwidth.md §2.1)."""
_RESPONSE_LIMIT: Final = 1 << 20  # bytes of a bot's answer kept; BXML itself is capped at 64 KB
_SNIPPET: Final = 200

Outcome = Literal[
    "answered",
    "challenge-ok",
    "lost-no-challenge",
    "rejected",
    "server-error",
    "timeout",
    "connection-error",
]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)

_RULE_CHALLENGE: Final = (
    "RFC 7235 §3.1 (a 401 response MUST carry WWW-Authenticate) and Bandwidth's "
    "authenticated-callback flow: Bandwidth resends with Basic credentials only after a "
    "401 whose WWW-Authenticate names Basic; otherwise it does not retry and the callback "
    "is lost (docs/bandwidth.md §2.8)"
)
_RULE_CONTENT_TYPE: Final = (
    "Bandwidth: a synchronous webhook is answered 200 with Content-Type application/xml "
    "and a BXML body (docs/bandwidth.md §2.1)"
)
_RULE_TIMEOUT: Final = (
    "Bandwidth: a webhook not answered within callbackTimeout (15 s by default) has "
    "failed (docs/bandwidth.md §2.1)"
)

_SENT_PHRASE: Final[Mapping[AuthSent, str]] = {
    "none": "without credentials",
    "basic": "with the configured Basic credentials",
    "basic-wrong-password": "with a wrong password",
    "basic-wrong-username": "with a wrong username",
    "bearer": "with the credentials under the Bearer scheme instead of Basic",
}


@dataclass
class WebhookAttempt:
    """One HTTP request of an exchange and what came back.

    Headers are recorded with secrets redacted (``Authorization: Basic ***``). Times are
    ``time.monotonic()`` seconds. ``status`` is None when no answer arrived.
    """

    number: int
    auth_sent: AuthSent
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    started_at: float
    ended_at: float = 0.0
    elapsed_ms: float = 0.0
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    response_truncated: bool = False
    transport_error: str | None = None
    timed_out: bool = False

    @property
    def www_authenticate(self) -> str | None:
        """The ``WWW-Authenticate`` header of the answer, if any."""
        return self.response_headers.get("www-authenticate")

    @property
    def content_type(self) -> str | None:
        """The media type of the answer (``application/xml``), without parameters."""
        value = self.response_headers.get("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()


@dataclass
class WebhookExchange:
    """Everything that happened while delivering one webhook, for checks and reports.

    - ``outcome``: ``answered`` (2xx), ``challenge-ok`` (2xx after the Basic challenge),
      ``lost-no-challenge`` (401 without a Basic ``WWW-Authenticate``: Bandwidth would not
      retry), ``rejected`` (another 4xx, or a 3xx), ``server-error`` (5xx), ``timeout``,
      ``connection-error``.
    - ``error``: what went wrong, in a sentence that says what to do; None when the
      delivery went as Bandwidth expects.
    - ``warning``: the delivery worked but should not have (the bot accepted a webhook
      without valid credentials); None otherwise.
    - ``rule_broken``: the Bandwidth/RFC rule the bot's answer broke, if any.
    - ``content_type_ok``: for sync webhooks, whether the answer was ``200`` with
      ``application/xml``; None for async or unknown events.
    - ``extension_signed``: whether the opt-in signing *extension* header was added
      (modelled on Bandwidth's Toll-Free-Verification signature; not a Bandwidth voice
      feature).
    """

    method: str
    url: str
    event_type: str | None
    sync: bool | None
    auth_mode: AuthMode
    extension_signed: bool
    timeout_s: float
    attempts: list[WebhookAttempt]
    outcome: Outcome
    final_status: int | None
    bxml_text: str | None
    content_type_ok: bool | None
    rule_broken: str | None
    error: str | None
    warning: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether the bot accepted the webhook (a 2xx answer)."""
        return self.outcome in ("answered", "challenge-ok")

    @property
    def accepted_auth(self) -> AuthSent | None:
        """What the accepted request carried in ``Authorization``; None if not accepted."""
        return self.attempts[-1].auth_sent if self.delivered else None

    @property
    def call_would_end_with(self) -> str | None:
        """The disconnect cause Bandwidth would give the call, if the webhook failed.

        ``callback-error`` for a sync webhook that was not delivered, else None
        (docs/bandwidth.md §2.1).
        Fallback URLs are the caller's business.
        """
        if self.sync and not self.delivered:
            return "callback-error"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready copy for reports (credentials already redacted)."""
        out = asdict(self)
        out["delivered"] = self.delivered
        out["accepted_auth"] = self.accepted_auth
        out["call_would_end_with"] = self.call_would_end_with
        return out


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"webhook URL {url!r} must be an absolute http:// or https:// URL"
        raise ConfigError(msg)
    if parts.username is not None or parts.password is not None:
        msg = (
            "webhook URL carries credentials in its user-info part: remove them and pass "
            "WebhookAuth(username=..., password=...) instead"
        )
        raise ConfigError(msg)


def _query_value(value: Any) -> str:
    # Bandwidth documents that GET webhooks carry the fields as query parameters but not
    # how nested objects are encoded; bwsim sends them as compact JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _event_of(body: Mapping[str, Any] | bytes) -> str | None:
    if isinstance(body, bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    event = body.get("eventType") if isinstance(body, dict) else None
    return event if isinstance(event, str) else None


def _decode(data: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    if content_type:
        match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
        if match:
            try:
                charset = codecs.lookup(match.group(1)).name
            except LookupError:
                charset = "utf-8"
    return data.decode(charset, errors="replace")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


def _check_send_args(url: str, method: str, timeout_s: float, signing: Signing | None) -> None:
    _check_url(url)
    if method not in ("POST", "GET"):
        msg = f"method {method!r} is not one Bandwidth uses for webhooks; use 'POST' or 'GET'"
        raise ConfigError(msg)
    if not timeout_s > 0:
        msg = f"timeout_s must be positive, got {timeout_s!r} (Bandwidth allows 1-25 s)"
        raise ConfigError(msg)
    if signing is not None and method == "GET":
        msg = (
            "the signing extension signs the request body and a GET webhook has none: "
            "use method='POST' or drop the signing"
        )
        raise ConfigError(msg)


@dataclass(frozen=True)
class _Encoded:
    content: bytes | None
    params: list[tuple[str, str | int | float | bool | None]] | None
    headers: dict[str, str]


def _encode(
    body: Mapping[str, Any] | bytes,
    *,
    method: str,
    event_type: str | None,
    signing: Signing | None,
) -> _Encoded:
    """Put ``body`` on the wire: JSON (or raw bytes) for POST, a query string for GET."""
    if method == "GET":
        if isinstance(body, bytes):
            msg = "a raw bytes body cannot travel in a GET query string: use method='POST'"
            raise ConfigError(msg)
        params: list[tuple[str, str | int | float | bool | None]] = [
            (k, _query_value(v)) for k, v in body.items() if v is not None
        ]
        return _Encoded(None, params, {})
    if isinstance(body, bytes):
        content = body
    else:
        try:
            text = json.dumps(dict(body), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidWebhookBody(event_type, f"cannot encode as JSON: {exc}") from None
        content = text.encode("utf-8")
    headers = {"content-type": "application/json"}
    if signing is not None:
        headers.update(signing.headers(content, time.time()))
    return _Encoded(content, None, headers)


async def _attempt(
    client: httpx.AsyncClient,
    *,
    number: int,
    method: str,
    url: str,
    wire: _Encoded,
    authorization: str | None,
    auth_sent: AuthSent,
    timeout_s: float,
) -> WebhookAttempt:
    request = client.build_request(
        method,
        url,
        content=wire.content,
        params=wire.params,
        headers=wire.headers,
        timeout=timeout_s,
    )
    # Only this function decides the Authorization header: drop any client default.
    if "authorization" in request.headers:
        del request.headers["authorization"]
    if authorization is not None:
        request.headers["authorization"] = authorization
    attempt = WebhookAttempt(
        number=number,
        auth_sent=auth_sent,
        method=method,
        url=str(request.url),
        request_headers=redact_headers(request.headers.items()),
        request_body=(wire.content or b"").decode("utf-8", errors="replace"),
        started_at=time.monotonic(),
    )
    chunks: list[bytes] = []
    try:
        # httpx's own timeout bounds each phase; this one bounds the whole exchange, as
        # Bandwidth's callbackTimeout does.
        async with asyncio.timeout(timeout_s):
            response = await client.send(request, auth=None, follow_redirects=False, stream=True)
            try:
                attempt.status = response.status_code
                attempt.response_headers = redact_headers(response.headers.items())
                size = 0
                async for chunk in response.aiter_bytes():
                    room = _RESPONSE_LIMIT - size
                    chunks.append(chunk[:room])
                    size += len(chunk)
                    if size > _RESPONSE_LIMIT:
                        attempt.response_truncated = True
                        break
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        attempt.timed_out = True
        attempt.transport_error = f"no complete answer within {timeout_s:g} s"
    except httpx.RequestError as exc:
        attempt.transport_error = f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)
    attempt.ended_at = time.monotonic()
    attempt.elapsed_ms = (attempt.ended_at - attempt.started_at) * 1000
    attempt.response_body = _decode(b"".join(chunks), attempt.response_headers.get("content-type"))
    return attempt


@dataclass(frozen=True)
class _Verdict:
    outcome: Outcome
    error: str | None = None
    rule_broken: str | None = None
    warning: str | None = None


def _consequence(sync: bool | None) -> str:
    return " Bandwidth would end the call with cause callback-error." if sync else ""


def _classify(
    attempts: list[WebhookAttempt],
    *,
    auth: WebhookAuth,
    label: str,
    sync: bool | None,
    timeout_s: float,
    signing: Signing | None = None,
) -> _Verdict:
    """Turn the last attempt into an outcome and a sentence saying what to do."""
    last = attempts[-1]
    consequence = _consequence(sync)
    if last.timed_out:
        return _Verdict(
            "timeout",
            f"the bot did not answer the {label} within {timeout_s:g} s (Bandwidth's "
            "callback timeout, 15 s by default): answer webhooks at once and do slow work "
            f"in the background.{consequence}",
            _RULE_TIMEOUT,
        )
    if last.transport_error is not None or last.status is None:
        return _Verdict(
            "connection-error",
            f"could not deliver the {label} to {last.url} ({last.transport_error}): check "
            f"that the bot is running and listens on that address.{consequence}",
        )
    status = last.status
    sent = _SENT_PHRASE[last.auth_sent]
    if 200 <= status < 300:
        warning = None
        if signing is not None and signing.mode != "good":
            warning = (
                f"the bot accepted the {label} sent with a {signing.mode} signature "
                f"(bwsim's signing extension, {signing.header}): check the signature and "
                "refuse the webhook (401 or 403) when it is missing, wrong or too old."
            )
        elif last.auth_sent != "basic" and (auth.has_credentials or auth.mode != "challenge"):
            warning = (
                f"the bot accepted the {label} sent {sent}: anyone who finds its URL can "
                "drive it. Check Authorization against the webhook credentials and answer "
                "401 with 'WWW-Authenticate: Basic realm=\"…\"' otherwise."
            )
        outcome: Outcome = "challenge-ok" if len(attempts) == 2 else "answered"
        return _Verdict(outcome, warning=warning)
    if status == 401 and not names_basic(last.www_authenticate):
        if last.www_authenticate:
            what = f"a 401 whose WWW-Authenticate ({last.www_authenticate!r}) does not offer Basic"
        else:
            what = "401 without a WWW-Authenticate header"
        also = " It also rejected the configured credentials." if last.auth_sent == "basic" else ""
        return _Verdict(
            "lost-no-challenge",
            f"the bot answered the {label} sent {sent} with {what}, so Bandwidth would not "
            f"resend it with credentials and the callback is lost.{also}{consequence} "
            "Answer 401 with 'WWW-Authenticate: Basic realm=\"…\"' when credentials are "
            "missing or wrong.",
            _RULE_CHALLENGE,
        )
    if status >= 500:
        return _Verdict(
            "server-error",
            f"the bot answered {status} to the {label}: fix the error in its webhook handler "
            f"(it answered {_snippet(last.response_body)!r}).{consequence}",
        )
    return _Verdict(
        "rejected", _rejection(last, auth=auth, label=label, sync=sync, signing=signing)
    )


def _rejection(
    last: WebhookAttempt,
    *,
    auth: WebhookAuth,
    label: str,
    sync: bool | None,
    signing: Signing | None,
) -> str:
    """Say why a 3xx/4xx answer (other than an unchallenged 401) happened."""
    status, consequence = last.status, _consequence(sync)
    if status in (401, 403) and signing is not None and signing.mode != "good":
        return (
            f"the bot answered {status} to the {label} sent with a {signing.mode} signature "
            f"(what a bot that checks signatures should do).{consequence}"
        )
    if status in (401, 403) and signing is not None and last.auth_sent == "basic":
        return (
            f"the bot answered {status} to the {label} sent with a good signature and the "
            "configured credentials: make the bot's signing secret, header, algorithm and "
            f"webhook credentials match the ones bwsim sends.{consequence}"
        )
    if status in (401, 403) and last.auth_sent == "basic":
        return (
            f"the bot answered {status} to the {label} sent with the configured credentials "
            f"(username {auth.username!r}): make the bot's webhook username and password "
            f"match the ones bwsim sends.{consequence}"
        )
    if status in (401, 403) and auth.mode == "challenge" and not auth.has_credentials:
        # Not mode "none": that one leaves the credentials out on purpose (a spoof).
        asked = "asked for Basic credentials for" if status == 401 else "answered 403 to"
        return f"the bot {asked} the {label}, but {NO_CREDENTIALS_HINT}.{consequence}"
    if status in (401, 403):
        return (
            f"the bot answered {status} to the {label} sent {_SENT_PHRASE[last.auth_sent]} "
            f"(what a bot that checks credentials should do).{consequence}"
        )
    if status is not None and 300 <= status < 400:
        location = last.response_headers.get("location")
        return (
            f"the bot answered {status} (redirect to {location!r}) to the {label}; bwsim "
            "does not follow webhook redirects (Bandwidth's behaviour is undocumented): "
            f"serve the webhook at the configured URL.{consequence}"
        )
    return (
        f"the bot answered {status} to the {label} ({last.method} {last.url}): check the "
        f"webhook path and that the route accepts {last.method}.{consequence}"
    )


async def send_webhook(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any] | bytes,
    *,
    auth: WebhookAuth,
    method: Literal["POST", "GET"] = "POST",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    signing: Signing | None = None,
    signing_secret: str | None = None,
    sync: bool | None = None,
) -> WebhookExchange:
    """Deliver one webhook to the bot as Bandwidth does, and record what happened.

    - ``POST`` sends ``body`` as JSON (``Content-Type: application/json``); raw ``bytes``
      (a fuzzer's malformed body) are sent unchanged with that content type. ``GET``
      sends the fields as query parameters (docs/bandwidth.md §2.1); nested objects
      travel as compact JSON.
    - ``auth`` picks the authentication flow (see :class:`WebhookAuth`); the default
      ``challenge`` mode is Bandwidth's RFC 7235 flow and makes at most two requests.
    - Each request has ``timeout_s`` to be answered completely (Bandwidth: 15 s).
    - ``signing`` turns on bwsim's signing **extension** (:class:`Signing`; NOT something
      Bandwidth does for voice webhooks), POST only; ``signing_secret`` is its shortcut.
    - ``sync`` says whether a BXML reply is expected; by default it follows
      ``eventType`` (:data:`SYNC_EVENTS`, :data:`ASYNC_EVENTS`).

    A refused connection, a timeout or any answer is an outcome in the returned
    :class:`WebhookExchange`, never an exception. Raises :class:`ConfigError` only for
    arguments that cannot make a request (bad URL, GET with raw bytes, short secret).
    Retrying async webhooks on connection errors and fallback URLs are left to the
    caller, which owns the call's settings.
    """
    if signing_secret is not None:
        if signing is not None:
            msg = "pass signing or signing_secret (its shortcut), not both"
            raise ConfigError(msg)
        signing = Signing(signing_secret)
    _check_send_args(url, method, timeout_s, signing)
    event_type = _event_of(body)
    if sync is None and event_type in SYNC_EVENTS:
        sync = True
    elif sync is None and event_type in ASYNC_EVENTS:
        sync = False
    label = f"{event_type!r} webhook" if event_type else "webhook"
    wire = _encode(body, method=method, event_type=event_type, signing=signing)

    async def attempt(number: int, sent: AuthSent) -> WebhookAttempt:
        return await _attempt(
            client,
            number=number,
            method=method,
            url=url,
            wire=wire,
            authorization=auth.header(sent),
            auth_sent=sent,
            timeout_s=timeout_s,
        )

    attempts = [await attempt(1, auth.first_attempt())]
    first = attempts[0]
    if (
        auth.mode == "challenge"
        and auth.has_credentials
        and first.status == 401
        and names_basic(first.www_authenticate)
    ):
        attempts.append(await attempt(2, "basic"))

    verdict = _classify(
        attempts, auth=auth, label=label, sync=sync, timeout_s=timeout_s, signing=signing
    )
    last = attempts[-1]
    media_type = last.content_type or ""
    is_xml = media_type in ("application/xml", "text/xml") or media_type.endswith("+xml")
    answered_200 = last.transport_error is None and last.status == 200
    content_type_ok: bool | None = None
    error, rule_broken = verdict.error, verdict.rule_broken
    if sync:
        content_type_ok = answered_200 and media_type == "application/xml"
        if verdict.outcome in ("answered", "challenge-ok") and not content_type_ok:
            error = (
                f"the bot answered the sync {label} with {last.status} and Content-Type "
                f"{last.response_headers.get('content-type')!r}; Bandwidth expects 200 with "
                "Content-Type application/xml and a BXML body, e.g. "
                "Response(content=bxml, media_type='application/xml')."
            )
            rule_broken = _RULE_CONTENT_TYPE
    return WebhookExchange(
        method=method,
        url=url,
        event_type=event_type,
        sync=sync,
        auth_mode=auth.mode,
        extension_signed=signing is not None,
        timeout_s=timeout_s,
        attempts=attempts,
        outcome=verdict.outcome,
        final_status=last.status if last.transport_error is None else None,
        bxml_text=last.response_body if answered_200 and is_xml else None,
        content_type_ok=content_type_ok,
        rule_broken=rule_broken,
        error=error,
        warning=verdict.warning,
    )
