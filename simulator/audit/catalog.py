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

    @property
    def area(self) -> str:
        """The part of the id before the dot."""
        return self.id.split(".", 1)[0]

    def time_limit(self, config: AuditConfig) -> float:
        """Seconds after which the check is an audit error."""
        return config.check_timeout_s + (self.waits(config) if self.waits else 0.0)


CHECKS: Final = (
    CheckSpec(
        "webhook.auth",
        "bad webhook credentials get 401 with a Basic challenge",
        webhook.webhook_auth,
    ),
    CheckSpec(
        "webhook.creds_unset",
        "without webhook credentials every webhook gets 503",
        webhook.creds_unset,
        heavy=True,
    ),
    CheckSpec(
        "webhook.bad_body", "malformed webhook bodies get 4xx, never 5xx or BXML", webhook.bad_body
    ),
    CheckSpec(
        "bxml.stream", "the answer opens a bidirectional stream and holds the call", bxml.stream
    ),
    CheckSpec(
        "token.fresh",
        "each webhook gets a different, unguessable stream token",
        webhook.token_fresh,
    ),
    CheckSpec("ws.unknown_token", "a token the bot never minted is refused", ws.unknown_token),
    CheckSpec("ws.token_reuse", "a used token is refused", ws.token_reuse),
    CheckSpec(
        "ws.token_expiry",
        "a token past its lifetime is refused",
        ws.token_expiry,
        waits=lambda c: c.token_ttl_s + c.token_margin_s,
    ),
    CheckSpec(
        "spoof.start_ids",
        "forged start ids never choose the call acted on",
        spoof.start_ids,
        heavy=True,
    ),
    CheckSpec(
        "spoof.interleaved_webhooks",
        "another call's webhook before the stream changes nothing",
        spoof.interleaved_webhooks,
        heavy=True,
    ),
    CheckSpec("audio.greeting", "the bot greets within the budget", audio.greeting, timing=True),
    CheckSpec(
        "audio.clear_on_barge_in",
        "talked over, the bot clears and stops",
        audio.clear_on_barge_in,
        timing=True,
    ),
    CheckSpec("audio.valid_output", "every playAudio is valid for its stream", audio.valid_output),
    CheckSpec(
        "hangup.on_stream_loss", "a dropped stream gets its call hung up", hangup.on_stream_loss
    ),
    CheckSpec(
        "hangup.caller_left",
        "after the caller leaves: own call only, next call served",
        hangup.caller_left,
    ),
    CheckSpec(
        "hangup.on_silence",
        "a silent caller is hung up within the idle timeout",
        hangup.on_silence,
        slow=True,
        waits=lambda c: c.idle_timeout_s + c.idle_margin_s,
    ),
    CheckSpec(
        "transfer.request", "asked for a person: one valid PUT …/bxml <Transfer>", transfer.request
    ),
    CheckSpec(
        "transfer.after", "after the transfer: 404s not retried, next call served", transfer.after
    ),
    CheckSpec(
        "fuzz.start_metadata",
        "generated start frames touch no other call",
        fuzz.start_metadata,
        heavy=True,
        waits=lambda c: 2.0 * c.fuzz_examples,  # each example is a live call of about 0.5 s
    ),
)


@dataclass(frozen=True)
class Selection:
    """The checks a run executes, and those it reports as skipped without running."""

    run: tuple[CheckSpec, ...]
    skip: tuple[tuple[CheckSpec, str], ...]


def select(
    only: tuple[str, ...] = (), *, slow: bool = False, checks: tuple[CheckSpec, ...] = CHECKS
) -> Selection:
    """Pick checks by id or area; slow ones are skipped (with the reason) without ``slow``.

    Raises :class:`~simulator.errors.ConfigError` for a name that is neither an id nor an
    area, listing the known ids.
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
    run = tuple(c for c in chosen if slow or not c.slow)
    skip = tuple(
        (c, "a slow check: it waits for the bot's idle timeout (300 s by default); run with --slow")
        for c in chosen
        if c.slow and not slow
    )
    return Selection(run, skip)
