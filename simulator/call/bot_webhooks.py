"""The webhooks a call sends to the bot, logged to the call's trace, their BXML checked.

:class:`BotWebhooks` sends ``initiate`` and the webhooks BXML asks for (``redirect``,
``gather``), records each attempt, and turns an answer into the steps to run or into a
failure that ends the call (not delivered: ``callback-error``; no or invalid BXML:
``invalid-bxml``), recording the violation. Asynchronous webhooks (stream events,
``disconnect``) are retried once on a connection error, as Bandwidth does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from simulator.call.options import CallOptions
from simulator.call.recorder import CallRecorder
from simulator.call.webhook_sender import WebhookExchange, send_webhook
from simulator.protocol.bxml import BxmlDocument, BxmlError, parse_bxml
from simulator.protocol.bxml_runner import WebhookAnswered, WebhookFailed
from simulator.protocol.urls import http_url
from simulator.protocol.verbs import plan
from simulator.protocol.webhook_auth import WebhookAuth
from simulator.protocol.webhook_bodies import CallInfo, disconnect_body, initiate_body
from simulator.rest.registry import Call

__all__ = ["BotWebhooks"]

Violation = Callable[..., None]
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
        self.recorder.event("webhook-sent", url=url, auth=opts.auth_mode)
        exchange = await send_webhook(
            client,
            url,
            body,
            auth=auth,
            timeout_s=opts.webhook_timeout_s,
            signing_secret=opts.signing_secret,
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
    ) -> WebhookAnswered | WebhookFailed:
        """Send a webhook BXML asked for (``redirect``, ``gather``) and plan its answer."""
        has_creds = username is not None and password is not None
        auth = WebhookAuth(
            "challenge", username if has_creds else None, password if has_creds else None
        )
        target = http_url(url, self.bot_base_url)
        exchange = await send_webhook(
            client, target, body, auth=auth, timeout_s=self.options.webhook_timeout_s, sync=True
        )
        self.log(exchange)
        if not exchange.delivered:
            self.violation(
                "callback-error",
                exchange.error or f"the {body.get('eventType')} webhook was not delivered",
                url=target,
            )
            return WebhookFailed("callback-error", exchange.error)
        document = self._parse(exchange, str(body.get("eventType")))
        if isinstance(document, WebhookFailed):
            return document
        return WebhookAnswered(tuple(plan(document, url)))

    async def send_async(
        self, client: httpx.AsyncClient, url: str, body: dict[str, Any], auth: WebhookAuth
    ) -> None:
        """Deliver an async webhook; retried once on a connection error, as Bandwidth does."""
        for _ in range(2):
            exchange = await send_webhook(
                client, url, body, auth=auth, timeout_s=self.options.webhook_timeout_s, sync=False
            )
            self.log(exchange)
            if exchange.outcome != "connection-error":
                return

    async def disconnect(
        self, client: httpx.AsyncClient, url: str, info: CallInfo, call: Call
    ) -> None:
        """Send the ``disconnect`` webhook of the ended ``call`` to ``url``."""
        body = disconnect_body(
            replace(info, answer_time=call.answer_time),
            call.disconnect_cause or "hangup",
            call.end_time or datetime.now(UTC),
            call.error_message if call.disconnect_cause != "hangup" else None,
        )
        opts = self.options
        auth = WebhookAuth("challenge", opts.webhook_username, opts.webhook_password)
        await self.send_async(client, url, body, auth)

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
