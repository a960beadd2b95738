"""Every check the audit knows, with its stable id, and which of them a run selects.

Ids are stable: reports, ``--only`` and CI configurations name them. They are grouped by
area, the part before the dot (``webhook``, ``ws``, ``spoof`` …); ``--only webhook``
selects a whole area. :func:`select` is pure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from simulator.audit.checks import audio, bxml, fuzz, hangup, spoof, transfer, webhook, ws
from simulator.audit.config import AuditConfig
from simulator.errors import ConfigError

if TYPE_CHECKING:
    from simulator.audit.context import AuditContext
    from simulator.audit.model import Verdict

__all__ = ["CHECKS", "CheckSpec", "Selection", "select"]


@dataclass(frozen=True)
class CheckSpec:
    """One check: id, what it verifies, how to run it, and what it needs."""

    id: str
    title: str
    run: Callable[[AuditContext], Awaitable[Verdict]]
    slow: bool = False
    waits: Callable[[AuditConfig], float] | None = None
    """Extra seconds the check waits on purpose (its time budget grows by as much)."""
    timing: bool = False
    """It measures latencies: it runs first, before the heavy checks load the bot."""
    heavy: bool = False
    """It loads the bot (many calls, a second process): it waits for the timing checks."""
    signing: bool = False
    """It runs only with ``--signing-secret`` (bwsim's signing extension)."""
    alone: bool = False
    """It runs after every other check, by itself: requests it provokes that name no call
    it created (a garbled path, a forged account) would otherwise land in another check's
    window and be counted there."""
    severity: str = ""
    """Which of its findings are ``fail`` and which ``warn``, and why (README.md)."""

    @property
    def area(self) -> str:
        """The part of the id before the dot."""
        return self.id.split(".", 1)[0]

    def time_limit(self, config: AuditConfig) -> float:
        """Seconds after which the check is an audit error."""
        return config.check_timeout_s + (self.waits(config) if self.waits else 0.0)


def _silent_calls(config: AuditConfig) -> float:
    """With --slow, a spoofing check's silent calls wait out the bot's idle timeout."""
    return config.idle_timeout_s + config.idle_margin_s if config.slow else 0.0


CHECKS: Final = (
    CheckSpec(
        "webhook.auth",
        "bad webhook credentials get 401 with a Basic challenge",
        webhook.webhook_auth,
        severity=(
            "fail: a webhook without the right Basic credentials that is not refused with "
            "the challenge hands a stream to whoever sent it, or is lost by Bandwidth"
        ),
    ),
    CheckSpec(
        "webhook.creds_unset",
        "without webhook credentials every webhook gets 503",
        webhook.creds_unset,
        heavy=True,
        severity=("fail: a copy without credentials that accepts webhooks runs open to anyone"),
    ),
    CheckSpec(
        "webhook.bad_body",
        "malformed webhook bodies get 4xx, never 5xx or BXML",
        webhook.bad_body,
        severity=(
            "warn: every body carries the valid credentials, so only Bandwidth (which never"
            " sends one) or a holder of the secret can deliver it; a bot process that dies "
            "on one fails"
        ),
    ),
    CheckSpec(
        "webhook.signature",
        "wrong, missing and stale signatures refused (only with --signing-secret)",
        webhook.signature,
        signing=True,
        severity=(
            "fail: a webhook with a bad signature accepted, or a good one refused; runs only "
            "with --signing-secret, for a bot behind a signing gateway"
        ),
    ),
    CheckSpec(
        "bxml.stream",
        "the answer opens a bidirectional stream and holds the call",
        bxml.stream,
        severity=("fail: without a bidirectional stream held up there is no call"),
    ),
    CheckSpec(
        "token.fresh",
        "each webhook gets a different, unguessable stream token",
        webhook.token_fresh,
        severity=(
            "fail: a reused or guessable token lets a party without the secret open a call's stream"
        ),
    ),
    CheckSpec(
        "ws.unknown_token",
        "a token the bot never minted is refused",
        ws.unknown_token,
        severity=("fail: an unknown token accepted lets anyone open a call's stream"),
    ),
    CheckSpec(
        "ws.token_reuse",
        "a used token is refused",
        ws.token_reuse,
        severity=("fail: a used token accepted lets anyone who saw it reopen the stream"),
    ),
    CheckSpec(
        "ws.token_expiry",
        "a token past its lifetime is refused",
        ws.token_expiry,
        waits=lambda c: c.token_ttl_s + c.token_margin_s,
        severity=("fail: a token that never expires stays a key to the call"),
    ),
    CheckSpec(
        "ws.wire_forms",
        "the bot greets in every form of the frames Bandwidth's sources show",
        ws.wire_forms,
        severity=(
            "warn: a bot that does not serve a call in the documented or numeric-accountId "
            "form of the frames (the live wire shows the default form today)"
        ),
    ),
    CheckSpec(
        "spoof.start_ids",
        "forged start ids never choose the call acted on",
        spoof.start_ids,
        heavy=True,
        waits=_silent_calls,
        severity=(
            "fail: a request for another call (or another account) chosen by the "
            "unauthenticated start frame; inconclusive when the bot never acted"
        ),
    ),
    CheckSpec(
        "spoof.interleaved_webhooks",
        "another call's webhook before the stream changes nothing",
        spoof.interleaved_webhooks,
        heavy=True,
        waits=_silent_calls,
        severity=("fail: a request for the wrong call; inconclusive when the bot never acted"),
    ),
    CheckSpec(
        "audio.greeting",
        "the bot greets within the budget",
        audio.greeting,
        timing=True,
        severity=(
            "fail: a caller who hears nothing hangs up (a missed budget is re-run, "
            "unreliable under load)"
        ),
    ),
    CheckSpec(
        "audio.clear_on_barge_in",
        "talked over, the bot clears and stops",
        audio.clear_on_barge_in,
        timing=True,
        severity=(
            "fail: talked over, the caller keeps hearing the bot (a missed budget is re-"
            "run, unreliable under load); inconclusive when the bot was not speaking"
        ),
    ),
    CheckSpec(
        "audio.valid_output",
        "every playAudio is valid for its stream",
        audio.valid_output,
        severity=("fail: Bandwidth drops invalid frames"),
    ),
    CheckSpec(
        "hangup.on_stream_loss",
        "a dropped stream gets its call hung up",
        hangup.on_stream_loss,
        severity=(
            "fail: a call left up, silent, loses the caller (a late hang-up is re-run, "
            "unreliable under load)"
        ),
    ),
    CheckSpec(
        "hangup.caller_left",
        "after the caller leaves: own call only, next call served",
        hangup.caller_left,
        severity=("fail: requests for other calls, retry storms or a bot that stops serving"),
    ),
    CheckSpec(
        "hangup.on_silence",
        "a silent caller is hung up within the idle timeout",
        hangup.on_silence,
        slow=True,
        waits=lambda c: c.idle_timeout_s + c.idle_margin_s,
        severity=("fail: a silent call held forever"),
    ),
    CheckSpec(
        "transfer.request",
        "asked for a person: one valid PUT …/bxml <Transfer>",
        transfer.request,
        severity=(
            "fail: a caller who asked for a person is not transferred (a missed budget is "
            "re-run, unreliable under load)"
        ),
    ),
    CheckSpec(
        "transfer.after",
        "after the transfer: 404s not retried, next call served",
        transfer.after,
        severity=("fail: retried 404s or a bot that stops serving"),
    ),
    CheckSpec(
        "fuzz.start_metadata",
        "generated start frames touch no other call",
        fuzz.start_metadata,
        heavy=True,
        alone=True,
        waits=lambda c: 2.0 * c.fuzz_examples,  # each example is a live call of about 0.5 s
        severity=(
            "fail: a request about another call (account or call id not its own), a forged call "
            "hung up, a 5xx on the upgrade, or a bot that stops serving; warn: a socket closed "
            "1011/1006 on a malformed start and nothing else, since only who holds the "
            "stream's one-time token can send that frame (hardening, not the contract)"
        ),
    ),
)


@dataclass(frozen=True)
class Selection:
    """The checks a run executes, and those it reports as skipped without running."""

    run: tuple[CheckSpec, ...]
    skip: tuple[tuple[CheckSpec, str], ...]


def select(
    only: tuple[str, ...] = (),
    *,
    slow: bool = False,
    signing: bool = False,
    checks: tuple[CheckSpec, ...] = CHECKS,
) -> Selection:
    """Pick checks by id or area; some are skipped, with the reason, when not asked for.

    Slow ones need ``slow``; the signing check needs ``signing``. Raises
    :class:`~simulator.errors.ConfigError` for a name that is neither an id nor an area,
    listing the known ids.
    """
    ids = {c.id for c in checks}
    areas = {c.area for c in checks}
    unknown = [name for name in only if name not in ids and name not in areas]
    if unknown:
        known = ", ".join(c.id for c in checks)
        raise ConfigError(
            f"--only {' '.join(unknown)}: no such check or area; the checks are {known}"
        )
    chosen = [c for c in checks if not only or c.id in only or c.area in only]
    run = tuple(c for c in chosen if (slow or not c.slow) and (signing or not c.signing))
    skip = tuple(
        (c, "a slow check: it waits for the bot's idle timeout (300 s by default); run with --slow")
        for c in chosen
        if c.slow and not slow
    ) + tuple(
        (c, "runs only with --signing-secret: Bandwidth signs no voice webhook (an extension)")
        for c in chosen
        if c.signing and not signing
    )
    return Selection(run, skip)
