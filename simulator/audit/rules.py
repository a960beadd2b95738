"""The audit's judgements that need no I/O: BXML keep-alive, barge-in, and detail sentences.

- :func:`keepalive`: what holds the call after ``<StartStream>``. It does not block
  (docs/bandwidth.md §1.4), so a document that ends after it hangs up at once;
  ``<Pause>`` holds the call for its duration, ``<StopStream wait="true">`` until the
  socket closes.
- :func:`measure_barge_in`: from the bot's track and its ``clear`` times, whether the bot
  was speaking when the caller started, how soon it cleared, and how much of its audio
  the caller still heard. A ``clear`` alone proves little: Pipecat 1.14 sends one at
  every caller turn (docs/pipecat.md §2), so the audio must be seen to stop.
- :func:`sentence`: one detail sentence from a list of problems and the fix.
- :func:`about_trusted` / :func:`foreign_requests`: the spoof rule. A request is about a
  call a check trusts only when *both* its account and its call are that call's; a
  request anywhere else (a decoy, a call no check created, the bot's own call id under
  another account) is the spoof, whatever the status it got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from simulator.audit.evidence import audible_ms
from simulator.protocol.codec import Pcm
from simulator.protocol.verbs import Step, stream_hold
from simulator.rest.journal import JournalEntry
from simulator.rest.routes import CALL_ROUTES

__all__ = [
    "MIN_HOLD_S",
    "BargeIn",
    "Keepalive",
    "about_trusted",
    "foreign_requests",
    "keepalive",
    "measure_barge_in",
    "sentence",
]

MIN_HOLD_S: Final = 3600.0
"""A call held for less than this after its stream opens ends under a live conversation
(the guide holds it with ``<Pause duration="86400"/>``, the maximum)."""
SPEAKING_BEFORE_MS: Final = 400.0
"""How far before the caller's first word the bot must be audible to count as speaking."""
STOPPED_SLACK_MS: Final = 200.0
"""Bot audio tolerated after the ``clear`` (frames already on the wire)."""


@dataclass(frozen=True)
class Keepalive:
    """What holds the call up while the stream runs."""

    holds: bool
    verb: str
    hold_s: float | None
    """Seconds the document holds the call; None for "until the stream closes"."""
    explanation: str


def keepalive(steps: list[Step]) -> Keepalive:
    """Analyse the steps after the first ``<StartStream>`` of a webhook answer."""
    hold = stream_hold(steps)
    if hold.stream is None:
        return Keepalive(False, "", 0.0, "the answer has no <StartStream>")
    first = hold.verbs[0] if hold.verbs else ""
    if hold.seconds is None:
        return Keepalive(
            True, "StopStream", None, '<StopStream wait="true"> holds it until the socket closes'
        )
    held = hold.seconds
    after = ", ".join(f"<{v}>" for v in hold.verbs) or "nothing"
    if held >= MIN_HOLD_S:
        return Keepalive(True, first, held, f"{after} holds it {held:g} s")
    if not hold.verbs:
        return Keepalive(
            False,
            "",
            0.0,
            "nothing follows <StartStream>, which does not block: Bandwidth hangs up at once",
        )
    return Keepalive(
        False,
        first,
        held,
        f"after <StartStream> comes {after}, which holds the call only {held:g} s",
    )


@dataclass(frozen=True)
class BargeIn:
    """How the bot behaved when the caller talked over it (times on the call clock, ms)."""

    speaking: bool
    clear_ms: float | None
    latency_ms: float | None
    heard_after_start_ms: float
    heard_after_clear_ms: float | None
    window_ms: float

    def to_evidence(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "bot_speaking_when_caller_started": self.speaking,
            "clear_at_ms": self.clear_ms,
            "clear_latency_ms": self.latency_ms,
            "bot_audio_heard_after_caller_started_ms": self.heard_after_start_ms,
            "bot_audio_heard_after_clear_ms": self.heard_after_clear_ms,
            "caller_talked_ms": self.window_ms,
        }

    def stopped(self) -> bool:
        """Whether the bot's audio stopped with its ``clear``."""
        return self.heard_after_clear_ms is not None and (
            self.heard_after_clear_ms <= STOPPED_SLACK_MS
        )


def measure_barge_in(
    track: Pcm, clears_ms: list[float], caller_start_ms: float, caller_end_ms: float
) -> BargeIn:
    """Measure a barge-in from the bot's track (8 kHz) and the times of its ``clear``s."""
    speaking = audible_ms(track, caller_start_ms - SPEAKING_BEFORE_MS, caller_start_ms) > 0
    after = [c for c in sorted(clears_ms) if c >= caller_start_ms]
    clear = after[0] if after else None
    heard_after_clear = None
    if clear is not None:
        heard_after_clear = audible_ms(track, clear + 60.0, caller_end_ms)
    return BargeIn(
        speaking=speaking,
        clear_ms=None if clear is None else round(clear, 1),
        latency_ms=None if clear is None else round(clear - caller_start_ms, 1),
        heard_after_start_ms=audible_ms(track, caller_start_ms, caller_end_ms),
        heard_after_clear_ms=heard_after_clear,
        window_ms=round(caller_end_ms - caller_start_ms, 1),
    )


def sentence(problems: list[str], fix: str) -> str:
    """One detail sentence: the first problem, how many more, and what to do."""
    if not problems:
        return fix
    more = len(problems) - 1
    also = f" (and {more} more problem{'s' if more > 1 else ''}, see evidence)" if more else ""
    return f"{problems[0]}{also}: {fix}"


def about_trusted(account_id: str | None, call_id: str | None, calls: Mapping[str, str]) -> bool:
    """Whether a request names one of ``calls`` (call id → its account) in *its* account.

    Both must match: the bot's own call id under a forged account is a request to that
    account, so it is the spoof even when the fake refuses it (403).
    """
    return call_id is not None and call_id in calls and calls[call_id] == account_id


def foreign_requests(
    entries: Iterable[JournalEntry],
    *,
    decoys: set[str],
    known: Mapping[str, str],
) -> list[JournalEntry]:
    """Call requests about a decoy, or about no call a check created (``known``: id → account).

    Requests without a call id on a call route (``list_calls``, an unrouted path) count
    too: a bot has no business enumerating calls or sending garbled paths.
    """
    return [
        e
        for e in entries
        if e.route in CALL_ROUTES
        and (e.call_id in decoys or not about_trusted(e.account_id, e.call_id, known))
    ]
