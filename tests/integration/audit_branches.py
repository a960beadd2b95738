"""Every way an audit check can fail, and the broken bot that makes it fail that way.

:data:`BRANCHES` lists each failure branch of ``simulator/audit/checks`` (a ``failed``,
``warned`` or ``missed`` verdict, or a problem a check appends to its list) by a phrase
its message always contains, the check, and the bot of :data:`BOTS` that makes it fire
(``tests/bots/branch_bots.py``, the speaker bot with ``BRANCH_FLAWS``) or the test that
already shows it (``shown_by``). A branch no bot can reach alone says why (``why``).
``tests/unit/test_audit_branch_table.py`` reads the checks' source and fails when a
branch's message contains none of these phrases; ``test_audit_branches.py`` audits
each bot and asserts each branch's phrase in its check's detail. Pure data: importing it
starts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Branch:
    """One failure branch: the phrase its message always contains, and who shows it."""

    check: str
    phrase: str
    """A literal piece of the branch's message (never a formatted value)."""
    bot: str | None = None
    """The key of :data:`BOTS` whose audit makes the branch fire, or None."""
    status: Literal["failed", "warned"] = "failed"
    budget: bool = False
    """A missed time budget: the runner re-runs it, and on a loaded machine it ends
    ``unreliable`` with the same reason ("Last attempt: …"), which the test accepts."""
    shown_by: str | None = None
    """The test that already shows it (``path::test``), when it is not a bot here."""
    why: str | None = None
    """Why no bot here shows it (with ``bot`` and ``shown_by`` None)."""
    secondary: bool = False
    """It fires only with another problem, listed first: asserted in the evidence's
    ``problems`` rather than in the detail."""
    template: str | None = None
    """The branch's message as written, formatted values as ``{}``, when the phrase
    holds a value (a case's label): the source walk matches the branch by it."""


@dataclass(frozen=True)
class Bot:
    """One bot process: the flaws it carries; it is audited with its branches' checks."""

    flaws: tuple[str, ...]
    slow: bool = False


BOTS: dict[str, Bot] = {
    "refuses-streams": Bot(("refuses-streams",), slow=True),
    "no-start-stream": Bot(("no-start-stream",)),
    "answers-twice": Bot(("answers-twice",)),
    "password-only": Bot(("password-only", "two-tokens", "unidirectional")),
    "username-only": Bot(("username-only", "counter-tokens", "hangs-up-at-once", "mute")),
    "missing-is-fine": Bot(("missing-is-fine", "invalid-bxml", "bxml-on-400")),
    "no-challenge": Bot(("no-challenge", "not-xml", "unconfigured-401")),
    "challenge-with-bxml": Bot(("challenge-with-bxml", "transfer-forged-bearer")),
    "forbids": Bot(("forbids", "hangs-unconfigured")),
    "serves-three": Bot(("serves-three",)),
    "stranger-hangup": Bot(("stranger-hangup",)),
    "acts-on-refused": Bot(("acts-on-refused",)),
    "hangs": Bot(("hangs",)),
    "transfer-text-plain": Bot(("transfer-text-plain", "retries-404")),
    "transfer-basic": Bot(("transfer-basic",)),
    "transfer-twice": Bot(("transfer-twice",)),
    "transfer-no-verb": Bot(("transfer-no-verb",)),
    "transfer-wrong-call": Bot(
        ("transfer-wrong-call", "never-hangs-up", "pause-keepalive"), slow=True
    ),
    "never-transfers": Bot(("never-transfers", "late-clear")),
    "busy-after-transfer": Bot(("busy-after-transfer",)),
    "refused-hangup": Bot(("refused-hangup", "pause-keepalive")),
    "hangs-up-everyone": Bot(("hangs-up-everyone",)),
    "spoof-hangs-up-everyone": Bot(("hangs-up-everyone",)),
}

CONTROLS: dict[str, tuple[Bot, tuple[str, ...]]] = {
    "hangs-up-with-bxml": (
        Bot(("hangs-up-with-bxml", "pause-keepalive"), slow=True),
        ("hangup.on_stream_loss", "hangup.on_silence"),
    ),
}
"""Bots that end their calls a valid way the failure branches must not mistake: each
must pass the checks listed (a PUT of ``<Hangup/>`` BXML ends a call as surely as a POST
of ``state=completed``)."""

_BROKEN = "tests/integration/test_audit_broken.py::test_the_check_catches_the_broken_bot"
_VERDICTS = "tests/integration/test_audit_verdicts.py"
_FUZZ = "tests/integration/test_audit_fuzz.py"
_ANSWERED = "the webhook sent with {} was answered {}{}"
_SILENT = "the caller stayed silent and the bot {}: hang the call up when it goes idle"
_NO_ANSWER = "the webhook sent with {} got no answer ({})"
_WENT = "{} {} (HTTP {}) went to {}"
_MINT = "a bot must answer an authenticated initiate with <StartStream>"
_SECONDARY = (
    "only a request can end a victim call, and that request is reported first; the "
    "check's evidence gives each victim's phase (victims), not a problems list"
)

BRANCHES: tuple[Branch, ...] = (
    # audio.greeting
    Branch("audio.greeting", "stream never opened, so nothing could be heard", "refuses-streams"),
    Branch("audio.greeting", "heard nothing from the bot during the whole call", "username-only"),
    Branch("audio.greeting", "after the stream opened, over", shown_by=f"{_BROKEN}[late-greeting]"),
    # audio.valid_output
    Branch("audio.valid_output", "invalid frame(s), first", shown_by=f"{_BROKEN}[bad-frame]"),
    # audio.clear_on_barge_in
    Branch("audio.clear_on_barge_in", "no clear came within", shown_by=f"{_BROKEN}[no-clear]"),
    Branch("audio.clear_on_barge_in", "after the caller started talking, over", "never-transfers"),
    Branch(
        "audio.clear_on_barge_in",
        "but its audio went on",
        shown_by=f"{_BROKEN}[clear-keeps-talking]",
    ),
    # bxml.stream
    Branch("bxml.stream", "initiate webhook was not answered with BXML", "no-challenge"),
    Branch("bxml.stream", "the answer is invalid BXML", "missing-is-fine"),
    Branch("bxml.stream", "the answer has no <StartStream>", "no-start-stream"),
    Branch("bxml.stream", "is unidirectional", "password-only"),
    Branch("bxml.stream", "nothing follows <StartStream>", shown_by=f"{_BROKEN}[no-keepalive]"),
    Branch("bxml.stream", "the stream the answer names was not accepted", "refuses-streams"),
    Branch("bxml.stream", "the call ended before the caller hung up", "username-only"),
    # webhook.auth
    Branch("webhook.auth", "with no credentials got no answer", "hangs", template=_NO_ANSWER),
    Branch(
        "webhook.auth",
        "with no credentials was answered 200 and BXML",
        "missing-is-fine",
        template=_ANSWERED,
    ),
    Branch(
        "webhook.auth",
        "with a wrong password was answered 200 and BXML",
        "username-only",
        template=_ANSWERED,
    ),
    Branch(
        "webhook.auth",
        "with a wrong username (right password) was answered 200 and BXML",
        "password-only",
        template=_ANSWERED,
    ),
    Branch(
        "webhook.auth",
        "under the Bearer scheme was answered 200",
        shown_by=f"{_BROKEN}[any-scheme]",
        template=_ANSWERED,
    ),
    Branch("webhook.auth", "with no credentials was answered 403 (", "forbids", template=_ANSWERED),
    Branch("webhook.auth", "got 401 without 'WWW-Authenticate: Basic'", "no-challenge"),
    Branch(
        "webhook.auth",
        "the 401 for the webhook sent with no credentials carries BXML",
        "challenge-with-bxml",
        template="the 401 for the webhook sent with {} carries BXML",
    ),
    Branch("webhook.auth", "followed for the call whose webhooks were refused", "acts-on-refused"),
    # webhook.creds_unset
    Branch(
        "webhook.creds_unset",
        "was accepted (200",
        shown_by=f"{_BROKEN}[open-when-unconfigured]",
        template="the webhook sent with {} was accepted ({}{})",
    ),
    Branch(
        "webhook.creds_unset",
        "with no credentials was answered 401, not 503",
        "no-challenge",
        template="the webhook sent with {} was answered {}, not 503",
    ),
    Branch(
        "webhook.creds_unset",
        "got no answer (",
        "forbids",
        template=_NO_ANSWER,
        budget=True,
    ),
    # webhook.bad_body (warnings)
    Branch(
        "webhook.bad_body",
        "an empty body got no answer",
        "hangs",
        status="warned",
        template="{} got no answer ({})",
    ),
    Branch(
        "webhook.bad_body",
        "made the bot answer 500",
        status="warned",
        template="{} made the bot answer {}",
        shown_by=f"{_BROKEN}[crash-on-bad-body]",
    ),
    Branch(
        "webhook.bad_body",
        "was accepted (200 with BXML)",
        status="warned",
        template="{} was accepted ({}{})",
        shown_by=f"{_BROKEN}[ref-accepts-unsafe-ids]",
    ),
    Branch(
        "webhook.bad_body",
        "the 400 answer to a body that is not JSON carries BXML",
        "missing-is-fine",
        status="warned",
        template="the {} answer to {} carries BXML",
    ),
    # token.fresh
    Branch("token.fresh", _MINT, "no-start-stream"),
    Branch(
        "token.fresh",
        "got the same stream destination",
        shown_by=f"{_BROKEN}[call-derived-token]",
    ),
    Branch(
        "token.fresh", "two of three webhooks for the same call got the same token", "password-only"
    ),
    Branch("token.fresh", "an unguessable token needs", "username-only"),
    # ws.unknown_token / ws.token_reuse / ws.token_expiry
    Branch("ws.unknown_token", _MINT, "no-start-stream"),
    Branch("ws.unknown_token", "the webhook for the genuine-token control", "answers-twice"),
    Branch("ws.unknown_token", "was not refused", shown_by=f"{_BROKEN}[ref-ignores-token-value]"),
    Branch("ws.unknown_token", "followed the attempt(s) with", "acts-on-refused"),
    Branch("ws.unknown_token", "the genuine token was refused as well", "refuses-streams"),
    Branch("ws.token_reuse", _MINT, "no-start-stream"),
    Branch("ws.token_reuse", "was not refused", shown_by=f"{_BROKEN}[reusable-tokens]"),
    Branch("ws.token_reuse", "the genuine token was refused as well", "refuses-streams"),
    Branch("ws.token_expiry", _MINT, "no-start-stream"),
    Branch("ws.token_expiry", "was not refused", shown_by=f"{_BROKEN}[ref-eternal-tokens]"),
    Branch("ws.token_expiry", "the genuine token was refused as well", "refuses-streams"),
    Branch(
        "webhook.signature",
        "the correctly signed webhook was answered",
        shown_by="tests/integration/test_signing_audit.py::"
        "test_the_signing_check_passes_a_verifying_bot_and_fails_the_others",
    ),
    Branch(
        "webhook.signature",
        "signature was answered",
        shown_by="tests/integration/test_signing_audit.py::"
        "test_the_signing_check_passes_a_verifying_bot_and_fails_the_others",
    ),
    Branch(
        "webhook.signature",
        "verify the signature of every webhook",
        shown_by="tests/integration/test_signing_audit.py::"
        "test_the_signing_check_passes_a_verifying_bot_and_fails_the_others",
    ),
    Branch(
        "ws.wire_forms",
        "Bandwidth's own sources show each of these forms",
        status="warned",
        shown_by=f"{_BROKEN}[one-wire-form]",
    ),
    # spoof.start_ids / spoof.interleaved_webhooks
    Branch(
        "spoof.start_ids",
        "went to the victim of the call with",
        shown_by=f"{_BROKEN}[start-ids]",
        template=_WENT,
    ),
    Branch(
        "spoof.start_ids",
        "(the forged one), not the bot's own call's account",
        template=_WENT,
        shown_by=f"{_VERDICTS}::test_a_bot_taking_only_the_account_from_start_fails_for_its_"
        "request_there",
    ),
    Branch(
        "spoof.start_ids",
        "a call no check placed",
        "spoof-hangs-up-everyone",
        template=_WENT,
    ),
    Branch(
        "spoof.start_ids",
        "the victim of the call with the victim's callId was disconnected",
        "spoof-hangs-up-everyone",
        secondary=True,
        template="{} was {}",
    ),
    Branch(
        "spoof.interleaved_webhooks",
        "went to the call whose webhook came in between",
        shown_by=f"{_BROKEN}[current-call-global]",
        template=_WENT,
    ),
    Branch(
        "spoof.interleaved_webhooks",
        "no interleaved call's stream was accepted",
        "refuses-streams",
    ),
    # transfer.request
    Branch("transfer.request", "never got to ask for a person", "refuses-streams"),
    Branch("transfer.request", "the bot sent a transfer for another call", "transfer-wrong-call"),
    Branch("transfer.request", "came within", "never-transfers"),
    Branch("transfer.request", "not application/xml", "transfer-text-plain"),
    Branch("transfer.request", "not an OAuth Bearer token", "transfer-basic"),
    Branch("transfer.request", "is not one the OAuth endpoint issued", "challenge-with-bxml"),
    Branch(
        "transfer.request", "not a <Bxml> document", shown_by=f"{_BROKEN}[response-root-transfer]"
    ),
    Branch("transfer.request", "no <Transfer>", "transfer-no-verb"),
    Branch(
        "transfer.request",
        "the Voice API answered",
        why="a well-formed transfer of its own call that the fake refuses needs the call "
        "ended first, and the check reads the journal as the call ends: the PUT races it",
    ),
    Branch("transfer.request", "transfer requests for one request", "transfer-twice"),
    # transfer.after
    Branch("transfer.after", "after the transfer the bot sent", "stranger-hangup"),
    Branch("transfer.after", "retrying its 404", shown_by=f"{_BROKEN}[retries-404]"),
    Branch("transfer.after", "did not serve a new call after the transfer", "busy-after-transfer"),
    # hangup.on_stream_loss
    Branch("hangup.on_stream_loss", "stream never opened, so its loss", "refuses-streams"),
    Branch("hangup.on_stream_loss", "after its stream dropped the bot sent", "stranger-hangup"),
    Branch(
        "hangup.on_stream_loss",
        "did not hang its call up within",
        shown_by=f"{_BROKEN}[guide-serializer-hangup-only]",
    ),
    Branch("hangup.on_stream_loss", "its hang-up was refused", "refused-hangup"),
    Branch(
        "hangup.on_stream_loss",
        "its hang-up came",
        why="a hang-up later than the budget is seen only until the orphaned leg ends the "
        "call plus the settle time, within 1.5 times the budget: a missed budget that a "
        "loaded machine makes unreliable by design",
    ),
    Branch(
        "hangup.on_stream_loss",
        "with no hang-up from the bot",
        why="reached only when the call ended within the budget with no hang-up from the "
        "bot (POST or <Hangup/>) and no BXML running out, which the fake never does; kept "
        "as the safe default",
    ),
    # hangup.caller_left
    Branch("hangup.caller_left", "after the caller hung up the bot sent", "stranger-hangup"),
    Branch(
        "hangup.caller_left",
        "a bystander call in the same account was ended",
        "hangs-up-everyone",
        secondary=True,
    ),
    Branch("hangup.caller_left", "retrying the 404 answers", "transfer-text-plain"),
    Branch(
        "hangup.caller_left",
        "the bot did not serve a new call afterwards",
        shown_by=f"{_BROKEN}[single-session]",
    ),
    # hangup.on_silence (--slow)
    Branch("hangup.on_silence", "never opened, so silence could not be tested", "refuses-streams"),
    Branch("hangup.on_silence", "never ended the call", shown_by=f"{_BROKEN}[no-idle-hangup]"),
    Branch(
        "hangup.on_silence",
        "let the call end without hanging it up",
        why="the call ending with neither a hang-up nor the BXML running out: the fake ends "
        "a call only for one of those (or the caller), so no bot reaches it",
        template=_SILENT,
    ),
    Branch(
        "hangup.on_silence",
        "closed its stream but left the call up",
        "transfer-wrong-call",
        template=_SILENT,
    ),
    # fuzz.start_metadata
    Branch(
        "fuzz.start_metadata",
        "hardening: only Bandwidth (who holds the stream token) sends start",
        status="warned",
        why="an example listens 0.3 s after its frames: whether a crash lands inside that "
        "window depends on the machine; the 1011/1006 rule is unit-tested",
    ),
    Branch(
        "fuzz.start_metadata",
        "broke the invariant",
        shown_by=f"{_FUZZ}::test_a_bot_trusting_start_ids_is_caught_by_generated_input_and_replayed",
    ),
    Branch(
        "fuzz.start_metadata",
        "request(s) about a call no example owns",
        why="needs a request about an unknown call while two examples overlap; not yet shown",
    ),
    Branch("fuzz.start_metadata", "the victim call ", why=_SECONDARY),
    Branch(
        "fuzz.start_metadata",
        "the bot stopped serving after",
        "serves-three",
    ),
    Branch(
        "fuzz.start_metadata",
        "examples the bot no longer served a call",
        why="a bot that stops serving after the run; not yet shown",
    ),
)
