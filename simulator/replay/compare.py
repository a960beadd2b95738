"""The comparison of a replay with its recording: per turn, per event, what changed.

"then" is the recording, "now" is the replay; both are :class:`~simulator.replay.facts.CallFacts`,
measured the same way. Each difference is marked **required** or not:

- events are required by default: the bot's ``clear`` frames (none now where there were
  some, or the reverse), a barge-in the bot cleared then and not now, the bot hanging up,
  a transfer, who closed the stream first and its close code; a turn the bot answered then
  and not now is required too (it is the reply itself that is missing);
- response latencies are reported, and required only with ``max_latency_change_ms``:
  then a change larger than it is a required difference. Without it a change within
  :data:`SAME_LATENCY_MS` reads "same" and a larger one "slower"/"faster", never failing;
- ``streamParams`` and tracks (what the bot's BXML asks for) are reported, not required.

:attr:`Comparison.exit_code` is 0 when nothing required changed and 1 otherwise. Pure
(no I/O, no clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from simulator.replay.facts import CallFacts, TurnFact

__all__ = ["SAME_LATENCY_MS", "Comparison", "Difference", "TurnRow", "compare"]

SAME_LATENCY_MS: Final = 500.0
"""A response latency within this of the recording's reads "same" (not judged unless
``--max-latency-change`` is given)."""


@dataclass(frozen=True)
class Difference:
    """One thing that changed between the recording and the replay."""

    what: str
    """What it is about: ``clear``, ``hang-up``, ``transfer``, ``close``, ``turn 2`` …"""
    then: str
    now: str
    text: str
    """The difference in one sentence."""
    required: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "what": self.what,
            "then": self.then,
            "now": self.now,
            "text": self.text,
            "required": self.required,
        }


@dataclass(frozen=True)
class TurnRow:
    """One caller turn: the bot's response latency then and now."""

    index: int
    then: TurnFact | None
    now: TurnFact | None

    @property
    def change_ms(self) -> float | None:
        """Now minus then, when the bot answered the turn both times."""
        a = self.then.response_ms if self.then else None
        b = self.now.response_ms if self.now else None
        return None if a is None or b is None else b - a

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        change = self.change_ms
        return {
            "turn": self.index,
            "then": None if self.then is None else self.then.to_dict(),
            "now": None if self.now is None else self.now.to_dict(),
            "change_ms": None if change is None else round(change, 1),
        }


@dataclass
class Comparison:
    """The whole comparison: turns, events, differences and the exit code."""

    then: CallFacts
    now: CallFacts
    turns: list[TurnRow] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    max_latency_change_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    """What the replay could not do as recorded (a reply that never came …)."""

    @property
    def required(self) -> list[Difference]:
        """The differences that fail the replay."""
        return [d for d in self.differences if d.required]

    @property
    def ok(self) -> bool:
        """Nothing required changed."""
        return not self.required

    @property
    def exit_code(self) -> int:
        """0 when nothing required changed, 1 otherwise."""
        return 0 if self.ok else 1

    def events(self) -> list[tuple[str, str, str]]:
        """The events then and now, in words: ``(event, then, now)``."""
        return [
            ("clear (bot stops its audio)", str(self.then.clears), str(self.now.clears)),
            (
                "barge-ins cleared",
                _cleared(self.then.turns),
                _cleared(self.now.turns),
            ),
            ("bot hangs up", _hangup(self.then), _hangup(self.now)),
            ("transfer", str(self.then.transfers), str(self.now.transfers)),
            ("stream closed first by", _close(self.then), _close(self.now)),
            ("streamParams", _params(self.then), _params(self.now)),
            ("tracks", ",".join(self.then.tracks) or "-", ",".join(self.now.tracks) or "-"),
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``comparison.json``)."""
        return {
            "schema": 1,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "same_latency_ms": SAME_LATENCY_MS,
            "max_latency_change_ms": self.max_latency_change_ms,
            "turns": [t.to_dict() for t in self.turns],
            "events": [{"event": e, "then": a, "now": b} for e, a, b in self.events()],
            "differences": [d.to_dict() for d in self.differences],
            "notes": self.notes,
            "then": self.then.to_dict(),
            "now": self.now.to_dict(),
        }

    def text(self) -> str:
        """:meth:`describe` as one text (for an assertion's message)."""
        return "\n".join(self.describe())

    def describe(self) -> list[str]:
        """The comparison as a table a person reads: "then" is the recording, "now" this run."""
        lines = ['comparison: "then" = the recorded call, "now" = this replay']
        lines.append(f"  {'turn':<6}{'then: response':<18}{'now: response':<18}change")
        for row in self.turns:
            lines.append(
                f"  {row.index:<6}{_response(row.then):<18}{_response(row.now):<18}"
                f"{self._change(row)}"
            )
        if not self.turns:
            lines.append("  (no caller turn in the recording)")
        if any(t.barge_in for t in [*self.then.turns, *self.now.turns]):
            lines.append("  (B: the caller began the turn while the bot was speaking: a barge-in)")
        lines.append(f"  {'event':<30}{'then':<26}now")
        for event, a, b in self.events():
            mark = "" if a == b else "  <- changed"
            if "unknown" in (a, b):
                mark = "  (not recorded: no Voice API capture)" if a == "unknown" else ""
            lines.append(f"  {event:<30}{a:<26}{b:<26}{mark}".rstrip())
        for note in self.notes:
            lines.append(f"  note: {note}")
        for d in self.differences:
            tag = "REQUIRED" if d.required else "reported"
            lines.append(f"  {tag}: {d.text}")
        limit = (
            f"latencies are judged: a change over {self.max_latency_change_ms:g} ms fails"
            if self.max_latency_change_ms is not None
            else f'latencies are reported, not judged ("same" = within {SAME_LATENCY_MS:g} ms; '
            "--max-latency-change MS judges them)"
        )
        lines.append(f"  {limit}")
        n = len(self.required)
        verdict = (
            "nothing required changed (exit 0)"
            if n == 0
            else f"{n} required difference(s) (exit 1)"
        )
        lines.append(f"  result: {verdict}")
        return lines

    def _change(self, row: TurnRow) -> str:
        change = row.change_ms
        if change is None:
            a = row.then.outcome if row.then else "no such turn"
            b = row.now.outcome if row.now else "no such turn"
            return "-" if a == b else f"{a} -> {b}"
        limit = self.max_latency_change_ms
        tol = SAME_LATENCY_MS if limit is None else limit
        word = "same" if abs(change) <= tol else ("slower" if change > 0 else "faster")
        return f"{change:+.0f} ms ({word})"


def _response(turn: TurnFact | None) -> str:
    if turn is None:
        return "-"
    text = f"{turn.response_ms:.0f} ms" if turn.response_ms is not None else turn.outcome
    return text + (" B" if turn.barge_in else "")


def _cleared(turns: list[TurnFact]) -> str:
    barge = [t for t in turns if t.barge_in]
    if not barge:
        return "no barge-in"
    return f"{sum(1 for t in barge if t.cleared)} of {len(barge)}"


def _hangup(facts: CallFacts) -> str:
    if facts.hangup is None:
        return "unknown"
    return "yes" if facts.hangup else "no"


def _close(facts: CallFacts) -> str:
    if facts.closed_by is None:
        return "no stream"
    return f"{facts.closed_by} ({facts.close_code})"


def _params(facts: CallFacts) -> str:
    if not facts.stream_params:
        return "-"
    return ",".join(f"{k}={v}" for k, v in sorted(facts.stream_params.items()))


def compare(
    then: CallFacts,
    now: CallFacts,
    *,
    max_latency_change_ms: float | None = None,
    notes: list[str] | None = None,
) -> Comparison:
    """Compare a replay ("now") with its recording ("then"); see the module docstring."""
    c = Comparison(then, now, max_latency_change_ms=max_latency_change_ms, notes=list(notes or []))
    count = max(len(then.turns), len(now.turns))
    for i in range(count):
        a = then.turns[i] if i < len(then.turns) else None
        b = now.turns[i] if i < len(now.turns) else None
        row = TurnRow(i + 1, a, b)
        c.turns.append(row)
        c.differences.extend(_turn_differences(row, max_latency_change_ms))
    if len(then.turns) != len(now.turns):
        c.differences.append(
            Difference(
                "turns",
                str(len(then.turns)),
                str(len(now.turns)),
                f"the caller's speech made {len(then.turns)} turn(s) then and "
                f"{len(now.turns)} now (the bot's speech splits turns differently)",
                required=False,
            )
        )
    c.differences.extend(_event_differences(then, now))
    return c


def _turn_differences(row: TurnRow, limit: float | None) -> list[Difference]:
    out: list[Difference] = []
    a, b, n = row.then, row.now, row.index
    if a is None or b is None:
        return out
    what = f"turn {n}"
    if a.outcome == "answered" and b.outcome == "unanswered":
        out.append(
            Difference(
                what,
                f"answered in {a.response_ms:.0f} ms",
                "unanswered",
                f"turn {n}: the bot answered it then ({a.response_ms:.0f} ms) and not now",
                required=True,
            )
        )
    change = row.change_ms
    if change is not None and limit is not None and abs(change) > limit:
        out.append(
            Difference(
                what,
                f"{a.response_ms:.0f} ms",
                f"{b.response_ms:.0f} ms",
                f"turn {n}: response latency changed by {change:+.0f} ms "
                f"(more than --max-latency-change {limit:g} ms)",
                required=True,
            )
        )
    if a.barge_in and a.cleared and b.barge_in and not b.cleared:
        out.append(
            Difference(
                f"{what} clear",
                "cleared",
                "not cleared",
                f"turn {n}: the caller talked over the bot and the bot sent clear then, "
                "but no clear now",
                required=True,
            )
        )
    elif a.barge_in and not b.barge_in:
        out.append(
            Difference(
                f"{what} barge-in",
                "barge-in",
                "no barge-in",
                f"turn {n} was a barge-in then, not now: the bot was not speaking when "
                "the caller began",
                required=False,
            )
        )
    return out


def _event_differences(then: CallFacts, now: CallFacts) -> list[Difference]:
    out: list[Difference] = []
    if then.clears and not now.clears:
        out.append(
            Difference(
                "clear",
                str(then.clears),
                "0",
                f"clear: the bot sent {then.clears} clear frame(s) then and none now "
                "(it no longer stops its audio when the caller talks over it)",
                required=True,
            )
        )
    elif now.clears and not then.clears:
        out.append(
            Difference(
                "clear",
                "0",
                str(now.clears),
                f"clear: the bot sent none then and {now.clears} now",
                required=True,
            )
        )
    elif then.clears != now.clears:
        out.append(
            Difference(
                "clear",
                str(then.clears),
                str(now.clears),
                f"clear: {then.clears} frame(s) then, {now.clears} now",
                required=False,
            )
        )
    if then.hangup is None:
        if now.hangup:
            out.append(
                Difference(
                    "hang-up",
                    "unknown",
                    "yes",
                    f"hang-up: the bot hangs up now ({now.hangup_how}); whether it did then "
                    f"is {then.hangup_how}",
                    required=False,
                )
            )
    elif then.hangup and not now.hangup:
        out.append(
            Difference(
                "hang-up",
                "yes",
                "no",
                f"hang-up: the bot hung up then ({then.hangup_how}) and does not now: "
                "the caller had to hang up",
                required=True,
            )
        )
    elif now.hangup and not then.hangup:
        out.append(
            Difference(
                "hang-up",
                "no",
                "yes",
                f"hang-up: the bot did not hang up then and does now ({now.hangup_how})",
                required=True,
            )
        )
    if then.transfers != now.transfers:
        out.append(
            Difference(
                "transfer",
                str(then.transfers),
                str(now.transfers),
                f"transfer: {then.transfers} then, {now.transfers} now",
                required=True,
            )
        )
    if (then.closed_by, then.close_code) != (now.closed_by, now.close_code):
        # Once the bot has hung up, Bandwidth ending the call and the bot closing its own
        # socket race: either may close the stream first, in a recording as in a replay
        # (a recording without the Voice API cannot rule its hang-up out: None).
        raced = then.hangup is not False and now.hangup is True
        out.append(
            Difference(
                "close",
                _close(then),
                _close(now),
                f"close: the stream was closed first by {_close(then)} then and by "
                f"{_close(now)} now"
                + (" (after the bot's hang-up either side may close first)" if raced else ""),
                required=not raced,
            )
        )
    if then.stream_params != now.stream_params:
        out.append(
            Difference(
                "streamParams",
                _params(then),
                _params(now),
                f"streamParams: {_params(then)} then, {_params(now)} now",
                required=False,
            )
        )
    if then.tracks and now.tracks and then.tracks != now.tracks:
        out.append(
            Difference(
                "tracks",
                ",".join(then.tracks),
                ",".join(now.tracks),
                f"tracks: {','.join(then.tracks)} then, {','.join(now.tracks)} now",
                required=False,
            )
        )
    return out
