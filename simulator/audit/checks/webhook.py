"""Checks on the call webhook: authentication, configuration, malformed bodies, tokens.

What Bandwidth and the guide require (docs/bandwidth.md §2.8): Bandwidth sends the
webhook first without ``Authorization`` and resends with Basic credentials only after a
``401`` whose ``WWW-Authenticate`` names Basic; a bot must refuse anything else with that
401 and must not hand a stream destination to an unauthenticated caller. The guide's bot
answers 503 when it has no webhook credentials configured, rather than run open. The
``<StartStream>`` destination carries a one-time token bound to the call by the
authenticated webhook, so nobody can open (or reopen) that call's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx

from simulator.audit.context import AuditContext, MintError
from simulator.audit.model import Verdict, failed, missed, passed, skipped, warned
from simulator.audit.rules import sentence
from simulator.audit.tokens import MIN_TOKEN_BITS, token_strength, varying_parts
from simulator.call.webhook_sender import WebhookExchange
from simulator.errors import TargetError
from simulator.protocol.webhook_auth import AuthMode, WebhookAuth
from simulator.runner.targets import Launch, RunningBot, bot_log_name

__all__ = ["WEBHOOK_VARS", "bad_body", "creds_unset", "signature", "token_fresh", "webhook_auth"]

WEBHOOK_VARS = ("BANDWIDTH_WEBHOOK_USERNAME", "BANDWIDTH_WEBHOOK_PASSWORD")


def _carries_bxml(exchange: WebhookExchange) -> bool:
    """Whether an answer hands out BXML (and with it, a stream destination)."""
    body = exchange.attempts[-1].response_body if exchange.attempts else ""
    return any(tag in body for tag in ("<StartStream", "<Response", "<Bxml"))


def _answer(exchange: WebhookExchange) -> dict[str, Any]:
    last = exchange.attempts[-1]
    return {
        "sent": last.auth_sent,
        "status": last.status,
        "www_authenticate": last.www_authenticate,
        "content_type": last.response_headers.get("content-type"),
        "body": last.response_body[:300],
        "error": last.transport_error,
    }


async def webhook_auth(ctx: AuditContext) -> Verdict:
    """``webhook.auth``: bad credentials get 401 with a Basic challenge, and no BXML."""
    check = "webhook.auth"
    if not ctx.auth().has_credentials:
        return skipped(
            "bwsim does not know the bot's webhook credentials: export "
            "BANDWIDTH_WEBHOOK_USERNAME/PASSWORD as the bot has them and audit again"
        )
    call = ctx.new_call(check, decoy=True)
    mark = ctx.mark()
    cases: list[tuple[str, AuthMode]] = [
        ("no credentials", "none"),
        ("a wrong password", "wrong"),
        ("a wrong username (right password)", "wrong_username"),
        ("the right credentials under the Bearer scheme", "scheme"),
    ]
    problems: list[str] = []
    answers: dict[str, Any] = {}
    for label, mode in cases:
        exchange = await ctx.send_webhook(ctx.initiate(call), auth=ctx.auth(mode))
        answers[label] = _answer(exchange)
        status = exchange.final_status
        if status is None:
            problems.append(f"the webhook sent with {label} got no answer ({exchange.error})")
        elif status != 401:
            leak = (
                " and BXML: a stream destination for whoever sent it"
                if _carries_bxml(exchange)
                else ""
            )
            problems.append(f"the webhook sent with {label} was answered {status}{leak}")
        elif exchange.outcome == "lost-no-challenge":
            problems.append(
                f"the webhook sent with {label} got 401 without 'WWW-Authenticate: Basic', "
                "so Bandwidth would never resend it with credentials"
            )
        elif _carries_bxml(exchange):
            problems.append(f"the 401 for the webhook sent with {label} carries BXML")
    await ctx.quiet(0.5)
    later = ctx.foreign(check, ctx.requests_since(mark))
    if later:
        problems.append(
            f"{len(later)} Voice API request(s) followed for the call whose webhooks were refused"
        )
    evidence: dict[str, Any] = {"answers": answers, "requests": ctx.evidence(later)}
    if problems:
        return failed(
            sentence(
                problems,
                "check Authorization on every webhook against the configured Basic "
                "credentials (scheme, username and password) and answer anything else 401 "
                "with 'WWW-Authenticate: Basic realm=\"…\"' and no BXML",
            ),
            problems=problems,
            **evidence,
        )
    return passed(
        "no credentials, a wrong password, a wrong username and another scheme each got "
        "401 with a Basic challenge and no BXML",
        **evidence,
    )


@contextlib.asynccontextmanager
async def bot_without_webhook_credentials(ctx: AuditContext) -> AsyncIterator[RunningBot]:
    """A second copy of the bot, started with the webhook credential variables removed."""
    h = ctx.harness
    log = None
    if h.log_path is not None:  # next to the first copy's log
        name = f"{ctx.target.description} without webhook credentials"
        log = h.log_path.with_name(bot_log_name(2, name))
    launch = Launch(
        credentials=h.credentials,
        api_base=h.api_base,
        violations_file=h.violations_file,
        log_path=log,
        extra_env=h.bot_env,
        startup_timeout_s=h.startup_timeout_s,
        unset_env=WEBHOOK_VARS,
        allow_hosts=h.allow_hosts,
    )
    bot = await ctx.target.start(launch)
    if bot.log_path is not None:
        ctx.copy_logs.append(bot.log_path)
    try:
        yield bot
    finally:
        await bot.stop()


async def _first_answer(url: str, timeout_s: float) -> float | None:
    """Seconds until ``url`` gives any HTTP answer to a GET (None: none in ``timeout_s``).

    A bot that has just started may be listening before it can answer (imports done on
    the first request, a busy CPU); the check's webhooks go out only once it answers.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with httpx.AsyncClient(trust_env=False, timeout=timeout_s) as client:
        while loop.time() - began < timeout_s:
            try:
                await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            return loop.time() - began
    return None


async def creds_unset(ctx: AuditContext) -> Verdict:
    """``webhook.creds_unset``: with no webhook credentials, every webhook gets 503."""
    check = "webhook.creds_unset"
    if not ctx.target.starts_process:
        return skipped(
            f"{ctx.target.description}: bwsim did not start this bot, so it cannot start a "
            "copy without BANDWIDTH_WEBHOOK_USERNAME/PASSWORD; audit it with --app or --cmd"
        )
    creds = ctx.harness.credentials
    cases = [
        ("no credentials", WebhookAuth("none")),
        ("Basic with an empty username and password", WebhookAuth("preemptive", "", "")),
        (
            "Basic with the credentials the first copy has",
            WebhookAuth("preemptive", creds.webhook_username, creds.webhook_password),
        ),
        (
            "those credentials under the Bearer scheme",
            WebhookAuth("scheme", creds.webhook_username, creds.webhook_password),
        ),
    ]
    call = ctx.new_call(check, decoy=True)
    unanswered: list[str] = []
    try:
        started = time.monotonic()
        async with bot_without_webhook_credentials(ctx) as copy:
            url = copy.base_url.rstrip("/") + ctx.config.webhook_path
            listening_s = time.monotonic() - started
            first_answer_s = await _first_answer(url, ctx.harness.startup_timeout_s)
            startup = {
                "listening_after_s": round(listening_s, 2),
                "first_http_answer_after_s": (
                    None if first_answer_s is None else round(listening_s + first_answer_s, 2)
                ),
            }
            answers: dict[str, Any] = {}
            accepted: list[str] = []
            problems: list[str] = []
            for label, auth in cases:
                # Another process than the audited bot: no gate to wait for, so the 15 s
                # are the copy's own, and it has answered a first request already.
                exchange = await ctx.send_webhook(
                    ctx.initiate(call), auth=auth, url=url, client=ctx.direct
                )
                answers[label] = _answer(exchange)
                status = exchange.final_status
                if status is not None and 200 <= status < 300:
                    leak = " with BXML" if _carries_bxml(exchange) else ""
                    accepted.append(f"the webhook sent with {label} was accepted ({status}{leak})")
                elif status is None:
                    unanswered.append(
                        f"the webhook sent with {label} got no answer ({exchange.error})"
                    )
                elif status != 503:
                    problems.append(f"the webhook sent with {label} was answered {status}, not 503")
    except TargetError as exc:
        return passed(
            "the bot does not start without webhook credentials, so it cannot serve "
            "webhooks unauthenticated",
            start_error=str(exc)[:500],
        )
    evidence: dict[str, Any] = {
        "unset": list(WEBHOOK_VARS),
        "answers": answers,
        "copy_startup": startup,
    }
    problems = accepted + problems  # an open door first, a wrong status after
    if not problems and unanswered:
        # The copy answered a first request before these went out, alone on its port and
        # with no gate in between: a missing answer is the copy's (re-run once; under
        # load, unreliable).
        return missed(
            sentence(
                unanswered,
                "the copy without webhook credentials, which had already answered a first "
                "request, let a webhook go unanswered for 15 s: answer 503 at once",
            ),
            problems=unanswered,
            **evidence,
        )
    problems += unanswered
    if problems:
        return failed(
            sentence(
                problems,
                "when BANDWIDTH_WEBHOOK_USERNAME/PASSWORD are unset, refuse every webhook "
                "with 503 (as the guide's bot does) instead of running open",
            ),
            problems=problems,
            **evidence,
        )
    return passed(
        "started without webhook credentials, the bot answered every webhook 503", **evidence
    )


BAD_BODY_SEVERITY = (
    "warn: every malformed body is sent with the bot's valid webhook credentials, so only "
    "Bandwidth (which never sends one) or a holder of the webhook secret can deliver it; "
    "answering it 5xx or with BXML is a hardening gap, not a breach of the contract"
)


async def bad_body(ctx: AuditContext) -> Verdict:
    """``webhook.bad_body``: malformed authenticated bodies get 4xx, never 5xx or BXML.

    Its findings are warnings (:data:`BAD_BODY_SEVERITY`); a bot process that dies on one
    is a failure, reported by the runner.
    """
    check = "webhook.bad_body"
    call = ctx.new_call(check, decoy=True)
    cid, acct = call.call_id, call.account_id
    cases: list[tuple[str, dict[str, Any] | bytes]] = [
        ("a body that is not JSON", b"this is not json"),
        ("an empty body", b""),
        ("a JSON array", b'[{"callId": "c-1", "accountId": "1"}]'),
        ("a JSON string", b'"initiate"'),
        ("JSON null", b"null"),
        ("no callId", ctx.initiate(call, callId=None)),
        ("no accountId", ctx.initiate(call, accountId=None)),
        ("a numeric callId", ctx.initiate(call, callId=12345)),
        ("an accountId that is a list", ctx.initiate(call, accountId=[acct])),
        ("a callId that is an object", ctx.initiate(call, callId={"id": cid})),
        ("a callId with '/..'", ctx.initiate(call, callId=f"{cid}/../x")),
        ("a callId with '?'", ctx.initiate(call, callId=f"{cid}?state=completed")),
        ("a callId with '#'", ctx.initiate(call, callId=f"{cid}#x")),
        ("a callId with '%2F'", ctx.initiate(call, callId=f"{cid}%2F..%2Fx")),
        ("a callId with a newline", ctx.initiate(call, callId=f"{cid}\n")),
        ("a callId with a space", ctx.initiate(call, callId=f"{cid} x")),
        ("an accountId with '/'", ctx.initiate(call, accountId=f"{acct}/calls")),
    ]
    problems: list[str] = []
    answers: dict[str, Any] = {}
    auth = ctx.auth("preemptive")
    for label, body in cases:
        exchange = await ctx.send_webhook(body, auth=auth)
        answers[label] = _answer(exchange)
        status = exchange.final_status
        if status is None:
            problems.append(f"{label} got no answer ({exchange.error})")
        elif status >= 500:
            problems.append(f"{label} made the bot answer {status}")
        elif not 400 <= status < 500:
            leak = " with BXML" if _carries_bxml(exchange) else ""
            problems.append(f"{label} was accepted ({status}{leak})")
        elif _carries_bxml(exchange):
            problems.append(f"the {status} answer to {label} carries BXML")
    evidence = {"answers": answers, "severity": BAD_BODY_SEVERITY}
    if problems:
        # Every body carried the valid credentials: only Bandwidth, which never sends such
        # a body, or a holder of the webhook secret can deliver it. Hardening, not the
        # contract, so a warning (a bot that dies on one fails through the runner).
        return warned(
            sentence(
                problems,
                "hardening: parse the body defensively and answer 400 unless it is a JSON "
                "object whose callId and accountId are strings of RFC 3986 unreserved "
                "characters",
            ),
            problems=problems,
            **evidence,
        )
    return passed(f"all {len(cases)} malformed bodies got a 4xx and no BXML", **evidence)


async def token_fresh(ctx: AuditContext) -> Verdict:
    """``token.fresh``: webhooks for the same call get different, unguessable tokens."""
    check = "token.fresh"
    call = ctx.new_call(check)
    try:
        minted = [await ctx.mint(call) for _ in range(3)]
    except MintError as exc:
        return failed(f"{exc}: a bot must answer an authenticated initiate with <StartStream>")
    destinations = [m.destination for m in minted]
    varying = varying_parts(destinations)
    evidence: dict[str, Any] = {"destinations": destinations, "varying": sorted(varying)}
    if not varying:
        return failed(
            "three initiate webhooks for the same call got the same stream destination, "
            "so whoever learns it (or the call id in it) can open the call's stream: put a "
            "fresh, random, one-time token in every destination",
            **evidence,
        )
    tokens = ["|".join(values[i] for values in varying.values()) for i in range(3)]
    if len(set(tokens)) < len(tokens):
        return failed(
            "two of three webhooks for the same call got the same token: mint a fresh "
            "random token for every webhook (secrets.token_urlsafe(32))",
            **evidence,
        )
    strength = token_strength(tokens)
    evidence["strength"] = {
        "bits": strength.bits,
        "alphabet": strength.alphabet,
        "varying_chars": strength.varying_chars,
        "shared_prefix": strength.shared_prefix,
        "shared_suffix": strength.shared_suffix,
    }
    if not strength.strong:
        return failed(
            f"the tokens differ in only {strength.varying_chars} {strength.alphabet} "
            f"character(s), about {strength.bits:g} bits, under the {MIN_TOKEN_BITS} an "
            "unguessable token needs: use secrets.token_urlsafe(32)",
            **evidence,
        )
    return passed(
        f"three webhooks for the same call got three different tokens of about "
        f"{strength.bits:g} random bits",
        **evidence,
    )


async def signature(ctx: AuditContext) -> Verdict:
    """``webhook.signature``: wrong, missing and stale signatures are refused; good accepted.

    Runs only with ``--signing-secret`` (bwsim's extension: Bandwidth signs no voice
    webhook, docs/bandwidth.md §2.8), for a bot behind a signing gateway.
    """
    signing = ctx.config.signing
    if signing is None:
        return skipped("no --signing-secret: Bandwidth signs no voice webhook")
    call = ctx.new_call("webhook.signature", decoy=True)
    answers: dict[str, Any] = {}
    problems: list[str] = []
    for mode in ("wrong", "missing", "stale"):
        sent = replace(signing, mode=mode)
        exchange = await ctx.send_webhook(ctx.initiate(call), auth=ctx.auth(), signing=sent)
        answers[mode] = _answer(exchange)
        status = exchange.final_status
        if status is None or status < 400 or _carries_bxml(exchange):
            problems.append(
                f"a webhook with a {mode} signature was answered {status}"
                f"{' with BXML' if _carries_bxml(exchange) else ''}, not refused"
            )
    good = await ctx.send_webhook(ctx.initiate(call), auth=ctx.auth(), signing=signing)
    answers["good"] = _answer(good)
    evidence: dict[str, Any] = {"signing": signing.describe(), "answers": answers}
    if not _carries_bxml(good):
        return failed(
            f"the correctly signed webhook was answered {good.final_status} without BXML: "
            "check the secret, header and algorithm given to --signing-*, and the bot's "
            "verification",
            **evidence,
        )
    if problems:
        return failed(
            sentence(
                problems,
                "verify the signature of every webhook (and its timestamp's age) and refuse "
                "it with 401/403 and no BXML when it does not match",
            ),
            problems=problems,
            **evidence,
        )
    return passed(
        "wrong, missing and stale signatures were refused, and a good one accepted", **evidence
    )
