"""Turning what the simulator recorded into evidence and measurements, without I/O.

- :func:`request_evidence`: a journaled Voice API request as a JSON-ready dict (secrets
  are already redacted in the journal: ``Authorization: Bearer ***``).
- :func:`audible_ms` / :func:`first_audible_ms`: how much of the bot's track the caller
  could hear in a window, in 20 ms blocks at or above the audible level
  (:func:`simulator.protocol.audio_level.is_audible`), so a bot that streams silence
  is not counted as speaking.
"""

from __future__ import annotations

from typing import Any, Final

from simulator.protocol.audio_level import is_audible
from simulator.protocol.codec import Pcm
from simulator.rest.journal import JournalEntry
from simulator.rest.routes import CALL_ROUTES

__all__ = [
    "BLOCK_MS",
    "CALL_ROUTES",
    "audible_ms",
    "first_audible_ms",
    "request_evidence",
]

BLOCK_MS: Final = 20
_SAMPLES_PER_MS: Final = 8


def request_evidence(entry: JournalEntry, t0: float | None = None) -> dict[str, Any]:
    """One request as evidence: what was asked, of which call, with what answer."""
    out: dict[str, Any] = {
        "method": entry.method,
        "path": entry.path + (f"?{entry.query}" if entry.query else ""),
        "route": entry.route,
        "call_id": entry.call_id,
        "account_id": entry.account_id,
        "status": entry.status,
        "authorization": entry.headers.get("authorization", "(none)"),
        "content_type": entry.headers.get("content-type"),
        "body": entry.body[:500],
    }
    if t0 is not None:
        out["at_ms"] = round((entry.at - t0) * 1000, 1)
    return out


def _blocks(track: Pcm, start_ms: float, end_ms: float) -> list[tuple[float, Pcm]]:
    lo = max(0, int(start_ms * _SAMPLES_PER_MS))
    hi = min(len(track), int(end_ms * _SAMPLES_PER_MS))
    step = BLOCK_MS * _SAMPLES_PER_MS
    return [(i / _SAMPLES_PER_MS, track[i : min(i + step, hi)]) for i in range(lo, hi, step)]


def audible_ms(track: Pcm, start_ms: float, end_ms: float) -> float:
    """Milliseconds of ``track`` (8 kHz) loud enough to hear within ``[start, end)``."""
    return float(
        sum(BLOCK_MS for _, block in _blocks(track, start_ms, end_ms) if is_audible(block))
    )


def first_audible_ms(track: Pcm, after_ms: float = 0.0) -> float | None:
    """When ``track`` first becomes audible at or after ``after_ms``; None if never."""
    for at, block in _blocks(track, after_ms, len(track) / _SAMPLES_PER_MS):
        if is_audible(block):
            return at
    return None
