"""What a call's audio says about the bot: latencies measured on the recording, not guessed.

Pure functions over a finished call (no I/O, no clocks; :class:`MeasuredCall`): the two
tracks of the recording (caller and bot, one clock, the bot's audio placed when the
caller hears it) and the timeline. Speech is found by energy on each track, so a caller
file with trailing silence, or a bot that sends silent ``playAudio`` before speaking, is
measured from the audio that can be heard, not from the edges of what was sent.

Per call (:func:`measure` → :class:`CallMetrics`):

- **time to first audio**: from the media socket opening to the bot's first audible audio;
- **response latency**, per caller turn: from the end of the caller's speech to the
  onset of the bot's next audible speech;
- **barge-in**: the caller starts talking while the bot is heard; ``clear_ms`` is the
  time to the bot's ``clear``, ``heard_after_ms`` how much bot audio the caller still
  heard after starting to talk;
- **talk-over**: total time both were heard at once.

A bot that never spoke, a turn it never answered, or a barge-in it talked through is a
failure (:meth:`CallMetrics.failures`), never a latency of 0 ms. :func:`summarize`
aggregates samples over many calls: p50/p95/max with the count, and no p95 from fewer
than :data:`MIN_P95_SAMPLES` samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulator.protocol.audio_level import AUDIBLE_DBFS, audible_windows, level_amplitude
from simulator.protocol.codec import Pcm
from simulator.protocol.media import SAMPLES_PER_MS

__all__ = [
    "MIN_P95_SAMPLES",
    "BargeIn",
    "CallMetrics",
    "MeasuredCall",
    "MetricsConfig",
    "Span",
    "Turn",
    "caller_turns",
    "measure",
    "measure_tracks",
    "speech_spans",
    "summarize",
]

MIN_P95_SAMPLES = 20
"""A p95 from fewer samples is the max in disguise: it is reported as None."""


@dataclass(frozen=True)
class MetricsConfig:
    """How speech is told from silence, and when a missing answer is a failure.

    Energy is the RMS of ``window_ms`` windows in dBFS; a window above the threshold is
    speech. Speech edges are then refined to the first and last sample whose magnitude
    reaches the threshold's amplitude, so the edges are exact to a sample or two on
    clean audio, not to a window.
    """

    window_ms: float = 10.0
    caller_threshold_dbfs: float = AUDIBLE_DBFS
    bot_threshold_dbfs: float = AUDIBLE_DBFS
    min_speech_ms: float = 40.0
    """Bursts shorter than this are clicks, not speech."""
    hangover_ms: float = 250.0
    """Pauses shorter than this (between words) do not end a span of speech."""
    turn_gap_ms: float = 600.0
    """Caller speech resuming within this, with no bot speech in between, is one turn."""
    reply_window_ms: float = 1500.0
    """An unanswered turn is a failure once the caller has been silent this long after it."""
    barge_in_grace_ms: float = 300.0
    """Bot audio ending this soon after the caller starts talking was finishing anyway."""


@dataclass(frozen=True)
class Span:
    """Audible speech on one track, in ms on the call clock: ``[start_ms, end_ms)``."""

    start_ms: float
    end_ms: float

    @property
    def ms(self) -> float:
        """How long the span lasts."""
        return self.end_ms - self.start_ms


@dataclass
class Turn:
    """One caller turn and how the bot answered it.

    ``outcome``: ``answered`` (``response_ms`` is the latency), ``unanswered`` (the
    caller then stayed silent for ``reply_window_ms`` and the bot said nothing: a
    failure) or ``superseded`` (the caller spoke again, or the call ended, before the
    window passed: no sample, no failure).
    """

    index: int
    start_ms: float
    end_ms: float
    label: str | None
    outcome: str = "unanswered"
    response_ms: float | None = None
    reply_at_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "turn": self.index,
            "label": self.label,
            "start_ms": _r(self.start_ms),
            "end_ms": _r(self.end_ms),
            "outcome": self.outcome,
            "response_ms": _r(self.response_ms),
            "reply_at_ms": _r(self.reply_at_ms),
        }


@dataclass
class BargeIn:
    """The caller started talking at ``at_ms`` while the bot was heard."""

    at_ms: float
    clear_ms: float | None
    """From the caller's onset to the bot's ``clear``; None if no clear came."""
    heard_after_ms: float
    """Bot audio the caller heard after starting to talk."""
    bot_speech_end_ms: float
    failed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "at_ms": _r(self.at_ms),
            "clear_ms": _r(self.clear_ms),
            "heard_after_ms": _r(self.heard_after_ms),
            "bot_speech_end_ms": _r(self.bot_speech_end_ms),
            "failed": self.failed,
        }


@dataclass
class CallMetrics:
    """The measured figures of one call (see the module docstring)."""

    stream_opened_at_ms: float | None
    first_audio_at_ms: float | None
    first_audio_ms: float | None
    """From the media socket opening to the first audible bot audio."""
    turns: list[Turn] = field(default_factory=list)
    barge_ins: list[BargeIn] = field(default_factory=list)
    talk_over_ms: float = 0.0
    talk_over: list[Span] = field(default_factory=list)
    caller_speech: list[Span] = field(default_factory=list)
    bot_speech: list[Span] = field(default_factory=list)
    play_audio_frames: int = 0
    config: MetricsConfig = field(default_factory=MetricsConfig)

    @property
    def response_latencies(self) -> list[float]:
        """Response latency of every answered turn (ms)."""
        return [t.response_ms for t in self.turns if t.response_ms is not None]

    @property
    def clear_latencies(self) -> list[float]:
        """Barge-in → ``clear`` latency of every barge-in the bot cleared (ms)."""
        return [b.clear_ms for b in self.barge_ins if b.clear_ms is not None]

    @property
    def heard_after_barge_in(self) -> list[float]:
        """Bot audio heard after each barge-in began (ms)."""
        return [b.heard_after_ms for b in self.barge_ins]

    def failures(self) -> list[str]:
        """What the bot failed to do, one sentence each (empty when nothing failed)."""
        out: list[str] = []
        if self.stream_opened_at_ms is None:
            out.append("the bot never spoke: no media stream was opened")
        elif self.first_audio_at_ms is None:
            heard = (
                f"it sent {self.play_audio_frames} playAudio frame(s), none of them audible"
                if self.play_audio_frames
                else "it sent no playAudio"
            )
            out.append(f"the bot never spoke: {heard}")
        for turn in self.turns:
            if turn.outcome == "unanswered":
                out.append(
                    f"the bot did not answer caller turn {turn.index} "
                    f"(speech ended at {turn.end_ms:.0f} ms): "
                    f"nothing audible within {self.config.reply_window_ms:.0f} ms"
                )
        for b in self.barge_ins:
            if b.failed:
                out.append(
                    f"the caller talked over the bot at {b.at_ms:.0f} ms and the bot did not "
                    f"stop: no clear, {b.heard_after_ms:.0f} ms of its audio heard after"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json`` summaries): figures, per-turn detail, failures."""
        return {
            "first_audio_ms": _r(self.first_audio_ms),
            "first_audio_at_ms": _r(self.first_audio_at_ms),
            "stream_opened_at_ms": _r(self.stream_opened_at_ms),
            "response_ms": summarize(self.response_latencies),
            "clear_ms": summarize(self.clear_latencies),
            "heard_after_barge_in_ms": summarize(self.heard_after_barge_in),
            "talk_over_ms": _r(self.talk_over_ms),
            "turns": [t.to_dict() for t in self.turns],
            "barge_ins": [b.to_dict() for b in self.barge_ins],
            "talk_over": [[_r(s.start_ms), _r(s.end_ms)] for s in self.talk_over],
            "caller_speech": [[_r(s.start_ms), _r(s.end_ms)] for s in self.caller_speech],
            "bot_speech": [[_r(s.start_ms), _r(s.end_ms)] for s in self.bot_speech],
            "failures": self.failures(),
        }

    def describe(self) -> list[str]:
        """Lines for the console."""

        def ms(value: float | None) -> str:
            return "never" if value is None else f"{value:.0f} ms"

        lines = [f"time to first audio: {ms(self.first_audio_ms)}"]
        for t in self.turns:
            what = ms(t.response_ms) if t.outcome == "answered" else t.outcome
            lines.append(f"turn {t.index} (ended {t.end_ms:.0f} ms): response {what}")
        for b in self.barge_ins:
            lines.append(
                f"barge-in at {b.at_ms:.0f} ms: clear {ms(b.clear_ms)}, "
                f"bot heard {b.heard_after_ms:.0f} ms after"
            )
        lines.append(f"talk-over: {self.talk_over_ms:.0f} ms")
        return lines


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """p50/p95/max (nearest rank) and the count; p95 is None below 20 samples."""
    values = sorted(float(v) for v in samples)
    n = len(values)

    def rank(q: float) -> float:
        return values[max(0, math.ceil(q * n) - 1)]

    return {
        "n": n,
        "p50_ms": _r(rank(0.50)) if n else None,
        "p95_ms": _r(rank(0.95)) if n >= MIN_P95_SAMPLES else None,
        "max_ms": _r(values[-1]) if n else None,
    }


# -- finding speech ---------------------------------------------------------------------


def speech_spans(
    track: Pcm, threshold_dbfs: float, config: MetricsConfig | None = None
) -> list[Span]:
    """Spans of audible sound on an 8 kHz track (sample 0 is 0 ms on the call clock)."""
    cfg = config or MetricsConfig()
    win = max(1, round(cfg.window_ms * SAMPLES_PER_MS))
    n = len(track) // win
    if n == 0:
        return []
    voiced = audible_windows(track, win, threshold_dbfs)
    amp = level_amplitude(threshold_dbfs)
    runs: list[list[int]] = []  # [first window, last window + 1]
    start: int | None = None
    for i, v in enumerate(voiced.tolist()):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append([start, i])
            start = None
    if start is not None:
        runs.append([start, n])
    hang = cfg.hangover_ms * SAMPLES_PER_MS / win
    merged: list[list[int]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < hang:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    spans = []
    magnitude = np.abs(track.astype(np.int32))
    for lo_w, hi_w in merged:
        lo, hi = lo_w * win, hi_w * win
        if (hi - lo) < cfg.min_speech_ms * SAMPLES_PER_MS:
            continue
        # Refine to the samples: the window edges are only good to window_ms.
        head = np.flatnonzero(magnitude[max(0, lo - win) : lo + win] >= amp)
        tail = np.flatnonzero(magnitude[hi - win : hi + win] >= amp)
        first = max(0, lo - win) + int(head[0]) if head.size else lo
        last = hi - win + int(tail[-1]) + 1 if tail.size else hi
        spans.append(Span(first / SAMPLES_PER_MS, last / SAMPLES_PER_MS))
    return spans


def _overlaps(a: list[Span], b: list[Span]) -> list[Span]:
    out = []
    for x in a:
        for y in b:
            lo, hi = max(x.start_ms, y.start_ms), min(x.end_ms, y.end_ms)
            if lo < hi:
                out.append(Span(lo, hi))
    return sorted(out, key=lambda s: s.start_ms)


def _turns(
    caller: list[Span],
    bot: list[Span],
    edges: list[float],
    cfg: MetricsConfig,
) -> list[tuple[Span, float]]:
    """Caller spans merged into turns: (turn span, start of the span that began it)."""
    turns: list[Span] = []
    for span in caller:
        if turns:
            prev = turns[-1]
            gap_ok = span.start_ms - prev.end_ms < cfg.turn_gap_ms
            bot_between = any(prev.end_ms <= b.start_ms < span.start_ms for b in bot)
            edge_between = any(prev.end_ms <= e <= span.start_ms for e in edges)
            if gap_ok and not bot_between and not edge_between:
                turns[-1] = Span(prev.start_ms, span.end_ms)
                continue
        turns.append(span)
    return [(t, t.start_ms) for t in turns]


def caller_turns(
    track: Pcm, config: MetricsConfig | None = None, *, bot_track: Pcm | None = None
) -> list[Span]:
    """The caller's turns on ``track``, as :func:`measure_tracks` counts them.

    Audible spans (:func:`speech_spans`) merged into one turn when the caller resumes within
    ``turn_gap_ms`` with no bot speech in between; with ``bot_track`` (the other leg, same
    clock) bot speech splits turns as it does in the metrics. Without it, a plain mono
    recording is cut at every pause of ``turn_gap_ms`` or more.
    """
    cfg = config or MetricsConfig()
    caller = speech_spans(track, cfg.caller_threshold_dbfs, cfg)
    bot = [] if bot_track is None else speech_spans(bot_track, cfg.bot_threshold_dbfs, cfg)
    return [span for span, _ in _turns(caller, bot, [], cfg)]


def measure_tracks(
    caller_track: Pcm,
    bot_track: Pcm,
    *,
    stream_opened_at_ms: float | None,
    call_end_ms: float,
    clears: Sequence[float] = (),
    labels: Sequence[tuple[float, float, str]] = (),
    play_audio_frames: int = 0,
    config: MetricsConfig | None = None,
) -> CallMetrics:
    """Measure two tracks and a list of ``clear`` times (the core of :func:`measure`).

    ``labels`` are the caller's utterances as scripted, ``(start_ms, end_ms, label)``;
    a turn never spans two of them, and each turn is named after the one it falls in.
    """
    cfg = config or MetricsConfig()
    caller = speech_spans(caller_track, cfg.caller_threshold_dbfs, cfg)
    bot = speech_spans(bot_track, cfg.bot_threshold_dbfs, cfg)
    # Audio heard before the stream opened (a <SpeakSentence> or <PlayAudio> before the
    # <StartStream>) is not the bot answering on its stream: the count starts at the opening.
    opened = stream_opened_at_ms or 0.0
    on_stream = [b for b in bot if b.end_ms > opened]
    first_at = max(on_stream[0].start_ms, opened) if on_stream else None
    metrics = CallMetrics(
        stream_opened_at_ms=stream_opened_at_ms,
        first_audio_at_ms=first_at,
        first_audio_ms=None
        if first_at is None or stream_opened_at_ms is None
        else first_at - stream_opened_at_ms,
        caller_speech=caller,
        bot_speech=bot,
        play_audio_frames=play_audio_frames,
        config=cfg,
    )
    edges = [start for start, _, _ in labels]
    turn_spans = _turns(caller, bot, edges, cfg)
    clear_times = sorted(clears)
    for i, (span, _) in enumerate(turn_spans):
        following = turn_spans[i + 1][0].start_ms if i + 1 < len(turn_spans) else None
        label = next((name for lo, hi, name in labels if lo <= span.start_ms < hi), None)
        turn = Turn(index=i + 1, start_ms=span.start_ms, end_ms=span.end_ms, label=label)
        horizon = following if following is not None else call_end_ms
        reply = next((b for b in bot if span.end_ms <= b.start_ms and b.start_ms < horizon), None)
        if reply is not None:
            turn.outcome, turn.reply_at_ms = "answered", reply.start_ms
            turn.response_ms = reply.start_ms - span.end_ms
        elif horizon - span.end_ms < cfg.reply_window_ms:
            turn.outcome = "superseded"
        metrics.turns.append(turn)
        # Barge-in: the caller began this turn while the bot was being heard.
        talking = next((b for b in bot if b.start_ms < span.start_ms < b.end_ms), None)
        if talking is None:
            continue
        limit = following if following is not None else math.inf
        clear_at = next((c for c in clear_times if span.start_ms <= c < limit), None)
        heard = talking.end_ms - span.start_ms
        metrics.barge_ins.append(
            BargeIn(
                at_ms=span.start_ms,
                clear_ms=None if clear_at is None else clear_at - span.start_ms,
                heard_after_ms=heard,
                bot_speech_end_ms=talking.end_ms,
                failed=clear_at is None and heard > cfg.barge_in_grace_ms,
            )
        )
    metrics.talk_over = _overlaps(caller, bot)
    metrics.talk_over_ms = sum(s.ms for s in metrics.talk_over)
    return metrics


class _Event(Protocol):
    """A timeline event, as metrics read it."""

    @property
    def kind(self) -> str: ...
    @property
    def at_ms(self) -> float: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


class _Recording(Protocol):
    """A call's recording, as metrics read it."""

    def first(self, kind: str) -> _Event | None: ...
    def caller_track(self) -> Pcm: ...
    def bot_track(self) -> Pcm: ...


class _Stream(Protocol):
    @property
    def play_audio_frames(self) -> int: ...


class MeasuredCall(Protocol):
    """What :func:`measure` reads from a finished call (a ``CallResult`` has it all)."""

    @property
    def recorder(self) -> _Recording:
        """The call's recording: both tracks, and its first events."""

    @property
    def timeline(self) -> Sequence[_Event]:
        """The call's events in time order."""

    @property
    def streams(self) -> Sequence[_Stream]:
        """What happened to each of the call's streams."""


def _labels(events: Sequence[_Event]) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    open_at: dict[str, float] = {}
    for e in events:
        name = str(e.detail.get("label", "audio"))
        if e.kind == "caller-audio-start":
            open_at[name] = e.at_ms
        elif e.kind == "caller-audio-end" and name in open_at:
            out.append((open_at.pop(name), e.at_ms, name))
    out.extend((start, math.inf, name) for name, start in open_at.items())
    return sorted(out)


def measure(result: MeasuredCall, config: MetricsConfig | None = None) -> CallMetrics:
    """Measure one call from its recording and timeline."""
    rec = result.recorder
    timeline = result.timeline
    opened = rec.first("stream-accepted")
    clears = [e.at_ms for e in timeline if e.kind == "clear"]
    caller, bot = rec.caller_track(), rec.bot_track()
    end = max(
        [e.at_ms for e in timeline] + [len(caller) / SAMPLES_PER_MS, len(bot) / SAMPLES_PER_MS]
    )
    return measure_tracks(
        caller,
        bot,
        stream_opened_at_ms=None if opened is None else opened.at_ms,
        call_end_ms=end,
        clears=clears,
        labels=_labels(timeline),
        play_audio_frames=sum(s.play_audio_frames for s in result.streams),
        config=config,
    )
