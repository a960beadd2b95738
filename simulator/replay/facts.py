"""What a call did, as the comparison reads it: from a recording ("then") or a run ("now").

Both sides are measured the same way: the two legs of audio go through
:func:`~simulator.judge.metrics.measure_tracks` (turns, response latencies, barge-ins and
whether each was cleared), and the events are read from what each side keeps:

- **clear**: the bot's ``clear`` frames;
- **hang-up by the bot**: a ``<Hangup/>`` in a BXML answer, or a Voice API request with
  ``"state": "completed"``. An archive made without the recorder in front of the Voice
  API (``voice_api`` None) cannot tell an API hang-up from the caller's: then it is unknown;
- **transfer**: a ``<Transfer>`` in a BXML answer or in BXML the bot sent the Voice API;
- **close**: which side closed the first media stream first (``caller`` is Bandwidth's
  side: the phone, or Bandwidth ending the stream), and the close code.

Pure functions (no I/O, no clock).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.archive.model import CallArchive
from simulator.archive.tracks import RecordedAudio, recorded_audio
from simulator.call.result import CallResult
from simulator.judge.metrics import CallMetrics, MetricsConfig, measure_tracks
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.media import SAMPLES_PER_MS
from simulator.protocol.verbs import StartStream, plan

__all__ = ["CallFacts", "TurnFact", "facts_from_archive", "facts_from_result"]

_CLOSERS = {"simulator": "caller", "bot": "bot", "dropped": "dropped", "caller": "caller"}
"""A run's ``closed_by`` in the archive's words (bwsim's ``simulator`` is the caller side)."""


@dataclass(frozen=True)
class TurnFact:
    """One caller turn and how the bot answered it."""

    index: int
    start_ms: float
    end_ms: float
    outcome: str
    """``answered``, ``unanswered`` or ``superseded`` (as a metrics ``Turn``)."""
    response_ms: float | None
    barge_in: bool
    cleared: bool | None
    """For a barge-in: whether the bot sent ``clear`` before the caller's next turn."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "turn": self.index,
            "start_ms": round(self.start_ms, 1),
            "end_ms": round(self.end_ms, 1),
            "outcome": self.outcome,
            "response_ms": None if self.response_ms is None else round(self.response_ms, 1),
            "barge_in": self.barge_in,
            "cleared": self.cleared,
        }


@dataclass
class CallFacts:
    """What one call did, in the terms the comparison uses."""

    turns: list[TurnFact] = field(default_factory=list)
    clears: int = 0
    hangup: bool | None = False
    """Whether the bot hung up; None when the archive cannot tell."""
    hangup_how: str = ""
    """How it hung up (``a <Hangup/> in its BXML``), or why it is unknown."""
    transfers: int = 0
    closed_by: str | None = None
    """Who closed the first stream: ``caller``, ``bot``, ``dropped``; None if none opened."""
    close_code: int | None = None
    stream_params: dict[str, Any] = field(default_factory=dict)
    tracks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "turns": [t.to_dict() for t in self.turns],
            "clears": self.clears,
            "hangup": self.hangup,
            "hangup_how": self.hangup_how,
            "transfers": self.transfers,
            "closed_by": self.closed_by,
            "close_code": self.close_code,
            "stream_params": self.stream_params,
            "tracks": self.tracks,
        }


def _turn_facts(metrics: CallMetrics) -> list[TurnFact]:
    barge = {b.at_ms: b for b in metrics.barge_ins}
    out = []
    for t in metrics.turns:
        b = barge.get(t.start_ms)
        out.append(
            TurnFact(
                index=t.index,
                start_ms=t.start_ms,
                end_ms=t.end_ms,
                outcome=t.outcome,
                response_ms=t.response_ms,
                barge_in=b is not None,
                cleared=None if b is None else b.clear_ms is not None,
            )
        )
    return out


def _has(texts: Iterable[str], tag: str) -> bool:
    return any(f"<{tag}" in text for text in texts)


def _ok(status: int | None) -> bool:
    """Whether the Voice API accepted a request (2xx).

    A hang-up answered 404 (the caller had hung up first) is an attempt, not the bot
    hanging up.
    """
    return status is not None and 200 <= status < 300


def _completes(body: str) -> bool:
    """Whether a Voice API request body asks for ``"state": "completed"``."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("state") == "completed"


def _track_names(metadata: dict[str, Any]) -> list[str]:
    tracks = metadata.get("tracks")
    if not isinstance(tracks, list):
        return []
    return [str(t.get("name")) for t in tracks if isinstance(t, dict) and "name" in t]


def facts_from_archive(
    archive: CallArchive,
    config: MetricsConfig | None = None,
    *,
    audio: RecordedAudio | None = None,
) -> CallFacts:
    """What the recorded call did ("then"); ``audio`` is its legs when already rebuilt."""
    audio = audio or recorded_audio(archive)
    metrics = measure_tracks(
        audio.caller,
        audio.bot,
        stream_opened_at_ms=audio.stream_opened_ms,
        call_end_ms=audio.ended_ms,
        clears=audio.clears_ms,
        config=config,
    )
    answers = [w.answer for w in archive.webhooks]
    api = archive.voice_api
    facts = CallFacts(turns=_turn_facts(metrics), clears=len(audio.clears_ms))
    if _has(answers, "Hangup"):
        facts.hangup, facts.hangup_how = True, "a <Hangup/> in its BXML"
    elif api is not None and any(_completes(a.body) and _ok(a.status) for a in api):
        facts.hangup, facts.hangup_how = True, "a Voice API request (state completed)"
    elif api is None:
        facts.hangup = None
        facts.hangup_how = (
            "unknown: the archive holds no Voice API requests (the recorder did not stand "
            "in front of the Voice API), so a hang-up by the API cannot be told from the "
            "caller's"
        )
    bodies = [a.body for a in api or []]
    facts.transfers = sum(a.count("<Transfer") for a in [*answers, *bodies])
    if archive.streams:
        first = archive.streams[0]
        facts.closed_by = _CLOSERS.get(first.closed_by or "")
        facts.close_code = first.close_code
        facts.stream_params = first.stream_params
        facts.tracks = _track_names(first.metadata)
    return facts


def facts_from_result(result: CallResult, config: MetricsConfig | None = None) -> CallFacts:
    """What the replayed call did ("now"), measured as :func:`facts_from_archive` measures."""
    rec = result.recorder
    timeline = result.timeline
    caller, bot = rec.caller_track(), rec.bot_track()
    opened = rec.first("stream-accepted")
    end = max(
        [e.at_ms for e in timeline] + [len(caller) / SAMPLES_PER_MS, len(bot) / SAMPLES_PER_MS]
    )
    clears = [e.at_ms for e in timeline if e.kind == "clear"]
    metrics = measure_tracks(
        caller,
        bot,
        stream_opened_at_ms=None if opened is None else opened.at_ms,
        call_end_ms=end,
        clears=clears,
        config=config,
    )
    facts = CallFacts(turns=_turn_facts(metrics), clears=len(clears))
    bxml = result.exchange.bxml_text if result.exchange is not None else ""
    bodies = [e.body for e in result.api_requests if _ok(e.status)]
    caller_hung_up = any(
        e.kind == "note" and e.detail.get("detail") == "caller hangs up" for e in timeline
    )
    ended_by_hangup = any(
        e.kind == "call-ended" and e.detail.get("cause") == "hangup" for e in timeline
    )
    if any(e.kind == "hangup-request" for e in timeline) or any(_completes(b) for b in bodies):
        facts.hangup, facts.hangup_how = True, "a Voice API request (state completed)"
    elif _has([bxml or ""], "Hangup") or (ended_by_hangup and not caller_hung_up):
        facts.hangup, facts.hangup_how = True, "a <Hangup/> in its BXML"
    facts.transfers = len(result.events("transfer"))
    if result.streams:
        first = result.streams[0]
        facts.closed_by = _CLOSERS.get(first.closed_by or "")
        facts.close_code = first.close_code
    facts.stream_params, facts.tracks = _start_stream(bxml or "")
    return facts


def _start_stream(bxml: str) -> tuple[dict[str, Any], list[str]]:
    """The ``<StreamParam>``s and the tracks of the first ``<StartStream>`` in ``bxml``.

    Read through the protocol's own BXML parsing and verb steps, as bwsim ran the answer.
    """
    try:
        steps = plan(parse_bxml(bxml, context="webhook"), "http://bot.invalid/")
    except BxmlError:
        return {}, []
    stream = next((s for s in steps if isinstance(s, StartStream)), None)
    if stream is None:
        return {}, []
    return dict(stream.params), list(stream.tracks)
