"""The webhooks a call sends to the bot, logged to the call's trace, their BXML checked.

:class:`BotWebhooks` sends ``initiate`` and the webhooks BXML asks for (``redirect``,
``gather``), records each attempt, and turns an answer into the steps to run or into a
failure that ends the call (not delivered: ``callback-error``; no or invalid BXML:
``invalid-bxml``), recording the violation. Asynchronous webhooks (stream events,
``disconnect``) are retried once on a connection error, as Bandwidth does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from simulator.call.options import CallOptions
from simulator.call.recorder import CallRecorder
from simulator.call.webhook_sender import WebhookExchange, send_webhook
from simulator.protocol.bxml import BxmlDocument, BxmlError, parse_bxml
from simulator.protocol.bxml_runner import WebhookAnswered, WebhookFailed
from simulator.protocol.urls import http_url
from simulator.protocol.verbs import Fallback, plan
from simulator.protocol.webhook_auth import WebhookAuth
from simulator.protocol.webhook_bodies import CallInfo, disconnect_body, initiate_body
from simulator.protocol.webhook_signing import Signing
from simulator.rest.registry import Call

__all__ = ["BotWebhooks", "Delivery"]

Violation = Callable[..., None]


def _wire_method(method: str) -> Literal["POST", "GET"] | None:
    """``method`` as the sender takes it, or None when Bandwidth would not use it."""
    upper = method.upper()
    if upper == "GET":
        return "GET"
    if upper == "POST":
        return "POST"
    return None


@dataclass(frozen=True)
class Delivery:
    """Where one webhook goes: its URL, method and Basic credentials."""

    url: str
    method: Literal["POST", "GET"]
    username: str | None
    password: str | None = field(repr=False)
    preemptive: bool = False
    """Send the credentials at once instead of after a Basic challenge."""


"""Records a violation: ``(kind, detail, **evidence)``."""


class BotWebhooks:
    """Send one call's webhooks to the bot at ``bot_base_url``."""

    def __init__(
        self,
        recorder: CallRecorder,
        options: CallOptions,
        violation: Violation,
        bot_base_url: str,
    ) -> None:
        self.recorder = recorder
        self.options = options
        self.violation = violation
        self.bot_base_url = bot_base_url
        self.exchange: WebhookExchange | None = None
        """The ``initiate`` exchange, once sent."""
        self.bxml_error: str | None = None
        """Why the bot's BXML was refused, if it was."""
        self.callbacks: list[dict[str, Any]] = []
        """Every webhook sent after ``initiate``, as recorded on the timeline."""

    async def initiate(
        self, client: httpx.AsyncClient, url: str, info: CallInfo
    ) -> WebhookAnswered | WebhookFailed:
        """Send ``initiate`` to ``url`` and return the steps of the BXML it answered."""
        opts = self.options
        fields: dict[str, Any] = initiate_body(info, datetime.now(UTC))
        if opts.initiate_overrides:
            fields.update(opts.initiate_overrides)
            fields = {k: v for k, v in fields.items() if v is not None}
        body: dict[str, Any] | bytes = fields if opts.initiate_raw is None else opts.initiate_raw
        auth = WebhookAuth(opts.auth_mode, opts.webhook_username, opts.webhook_password)
        signing = self.signing_for("POST")
        if signing is None:
            self.recorder.event("webhook-sent", url=url, auth=opts.auth_mode)
        else:  # the extension is on the timeline only when it is used
            self.recorder.event(
                "webhook-sent", url=url, auth=opts.auth_mode, signing=signing.describe()
            )
        exchange = await send_webhook(
            client,
            url,
            body,
            auth=auth,
            timeout_s=opts.webhook_timeout_s,
            signing=signing,
            sync=True,
        )
        self.exchange = exchange
        self.log(exchange)
        if not exchange.delivered:
            self.recorder.event(
                "webhook-failed",
                outcome=exchange.outcome,
                status=exchange.final_status,
                rule=exchange.rule_broken,
            )
            return WebhookFailed("callback-error", exchange.error)
        self.recorder.event(
            "webhook-answered",
            status=exchange.final_status,
            outcome=exchange.outcome,
            attempts=len(exchange.attempts),
        )
        if exchange.warning:
            self.violation("webhook-auth", exchange.warning, url=url, auth=opts.auth_mode)
        document = self._parse(exchange, "webhook")
        if isinstance(document, WebhookFailed):
            return document
        return WebhookAnswered(tuple(plan(document, url)))

    async def fetch_bxml(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: dict[str, Any],
        username: str | None,
        password: str | None,
        *,
        method: str = "POST",
        fallback: Fallback | None = None,
    ) -> WebhookAnswered | WebhookFailed:
        """Send a webhook BXML asked for (``redirect``, ``gather``) and plan its answer.

        ``method`` ``GET`` sends the fields as query parameters; when the delivery fails
        and the verb gave a ``fallback``, it goes there (docs/bandwidth.md §2.1), and the
        relative URLs of the BXML that answers resolve against the URL that served it.
        """
        event = str(body.get("eventType"))
        wire_method = _wire_method(method)
        if wire_method is None:
            detail = (
                f"the {event} webhook's method is {method!r}; Bandwidth sends webhooks with "
                "GET or POST only: set the verb's *Method attribute to one of them"
            )
            self.violation("invalid-bxml", detail)
            return WebhookFailed("invalid-bxml", detail)
        target = http_url(url, self.bot_base_url)
        exchange, served = await self.deliver(
            client,
            event,
            Delivery(target, wire_method, username, password),
            body,
            fallback=fallback,
            sync=True,
        )
        if not exchange.delivered:
            self.violation(
                "callback-error",
                exchange.error or f"the {event} webhook was not delivered",
                url=served,
            )
            return WebhookFailed("callback-error", exchange.error)
        document = self._parse(exchange, event)
        if isinstance(document, WebhookFailed):
            return document
        return WebhookAnswered(tuple(plan(document, served)))

    async def send_async(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: dict[str, Any],
        auth: WebhookAuth,
        method: str = "POST",
    ) -> None:
        """Deliver an async webhook; retried once on a connection error, as Bandwidth does."""
        wire = _wire_method(method) or "POST"
        target = Delivery(url, wire, auth.username, auth.password)
        await self.deliver(client, str(body.get("eventType")), target, body, sync=False)

    async def deliver(
        self,
        client: httpx.AsyncClient,
        event: str,
        target: Delivery,
        body: dict[str, Any],
        *,
        fallback: Fallback | None = None,
        sync: bool,
    ) -> tuple[WebhookExchange, str]:
        """Send one webhook as Bandwidth does and record it on the timeline (``callback``).

        An async webhook is resent once after a connection error (docs/bandwidth.md §2.1).
        When the delivery fails (see ``CallOptions.fallback_on``) and there is a
        ``fallback``, the webhook goes there with the fallback's method and credentials.
        Returns the last exchange and the URL that answered it.
        """
        exchange = await self._send(client, target, body, sync=sync)
        used_fallback = False
        if fallback is not None and self._falls_back(exchange):
            self.recorder.event(
                "note",
                detail=f"the {event} webhook failed ({exchange.outcome}); bwsim sends it to "
                f"the fallback URL {fallback.url}",
            )
            wire = _wire_method(fallback.method) or "POST"
            target = Delivery(
                http_url(fallback.url, self.bot_base_url),
                wire,
                fallback.username,
                fallback.password,
            )
            exchange = await self._send(client, target, body, sync=sync)
            used_fallback = True
        record: dict[str, Any] = {
            "event": event,
            "url": target.url,
            "method": target.method,
            "outcome": exchange.outcome,
            "status": exchange.final_status,
            "delivered": exchange.delivered,
            "fallback": used_fallback,
            "cause": body.get("cause"),
            "error": exchange.error,
        }
        self.callbacks.append(record)
        self.recorder.event("callback", **record)
        return exchange, target.url

    def _falls_back(self, exchange: WebhookExchange) -> bool:
        if exchange.delivered:
            return False
        if self.options.fallback_on == "no-answer":
            return exchange.outcome in ("timeout", "connection-error")
        return True

    async def _send(
        self, client: httpx.AsyncClient, target: Delivery, body: dict[str, Any], *, sync: bool
    ) -> WebhookExchange:
        has_creds = target.username is not None and target.password is not None
        auth = WebhookAuth(
            "preemptive" if target.preemptive and has_creds else "challenge",
            target.username if has_creds else None,
            target.password if has_creds else None,
        )
        tries = 1 if sync else 2
        for _ in range(tries):
            exchange = await send_webhook(
                client,
                target.url,
                body,
                auth=auth,
                method=target.method,
                timeout_s=self.options.webhook_timeout_s,
                signing=self.signing_for(target.method),
                sync=sync,
            )
            self.log(exchange)
            if exchange.outcome != "connection-error":
                break
        return exchange

    async def disconnect(
        self,
        client: httpx.AsyncClient,
        url: str,
        info: CallInfo,
        call: Call,
        target: Delivery | None = None,
    ) -> None:
        """Send the ``disconnect`` webhook of the ended ``call`` to ``url``.

        Its ``cause`` is how the call ended; it goes with the application's webhook
        credentials (``CallbackCreds``, docs/bandwidth.md §2.2), or as ``target`` says (an
        outbound call's ``disconnectMethod`` and the request's credentials).
        """
        body = disconnect_body(
            replace(info, answer_time=call.answer_time),
            call.disconnect_cause or "hangup",
            call.end_time or datetime.now(UTC),
            call.error_message if call.disconnect_cause != "hangup" else None,
        )
        opts = self.options
        # The application's credentials go as its webhooks' do; the probing modes are
        # about the initiate webhook, so the disconnect uses the documented challenge.
        target = target or Delivery(
            url,
            "POST",
            opts.webhook_username,
            opts.webhook_password,
            preemptive=opts.auth_mode == "preemptive",
        )
        exchange, _ = await self.deliver(client, "disconnect", target, body, sync=False)
        if not exchange.delivered:
            self.violation(
                "disconnect-undelivered",
                f"the disconnect webhook to {url} was not accepted ({exchange.outcome}"
                f"{f', {exchange.final_status}' if exchange.final_status else ''}): the bot "
                "never learns that the call ended, so its cleanup does not run. Answer "
                "POST at the application's CallStatusCallbackUrl with a 2xx.",
                url=url,
                outcome=exchange.outcome,
                status=exchange.final_status,
            )

    def _parse(self, exchange: WebhookExchange, context: str) -> BxmlDocument | WebhookFailed:
        text = exchange.bxml_text
        if text is None:
            detail = exchange.error or "the answer carried no BXML"
            self.bxml_error = detail
            self.violation("invalid-bxml", detail, rule=exchange.rule_broken)
            return WebhookFailed("invalid-bxml", detail)
        try:
            return parse_bxml(text, context="webhook", strict_root=self.options.strict_root)
        except BxmlError as err:
            self.bxml_error = str(err)
            self.violation(
                "invalid-bxml",
                f"the bot's BXML ({context}) is invalid: {err}",
                rule=err.rule,
                line=err.line,
            )
            return WebhookFailed("invalid-bxml", str(err))

    def signing_for(self, method: str) -> Signing | None:
        """The signing extension for a webhook sent with ``method``: bodies (not GET) only."""
        return None if method == "GET" else self.options.webhook_signing

    def log(self, exchange: WebhookExchange) -> None:
        """Write each attempt of ``exchange`` to the call's trace."""
        for attempt in exchange.attempts:
            self.recorder.log(
                "webhook",
                event_type=exchange.event_type,
                attempt=attempt.number,
                method=attempt.method,
                url=attempt.url,
                auth=attempt.auth_sent,
                status=attempt.status,
                elapsed_ms=round(attempt.elapsed_ms, 1),
                error=attempt.transport_error,
                response=attempt.response_body[:2000],
            )
