"""The ``verb_audio`` expectation: what the caller heard during a verb that takes time.

Split from :mod:`simulator.judge.expect`, which registers it: each ``verb-audio-start`` of
the call's timeline (a ``<SpeakSentence>``, ``<PlayAudio>`` or ``<Ring>`` beginning to be
heard; docs/bandwidth.md §3.5) is an :class:`~simulator.judge.observation.Occurrence`,
whose ``verb``, ``sound`` and ``interrupted`` (whether a redirect, a BXML replacement or
the call's end cut it off) must match what the scenario asks. Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.judge.observation import Observation, Occurrence

__all__ = ["verb_audio_occurrences"]


def verb_audio_occurrences(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each verb heard; ``verb``, ``sound`` and ``interrupted`` must match when given."""
    # One verb is heard at a time, so the n-th end is the n-th start's.
    ends = [e for e in obs.timeline if e.kind == "verb-audio-end"]
    starts = [e for e in obs.timeline if e.kind == "verb-audio-start"]
    out = []
    for n, e in enumerate(starts):
        end = ends[n] if n < len(ends) else None
        got = {
            "verb": e.detail.get("verb"),
            "sound": e.detail.get("sound"),
            "interrupted": bool(end is not None and end.detail.get("interrupted")),
        }
        wrong = [k for k in ("verb", "sound", "interrupted") if k in params]
        wrong = [k for k in wrong if got[k] != params[k]]
        why = "; ".join(f"its {k} was {got[k]!r}, not {params[k]!r}" for k in wrong)
        what = f"<{got['verb']}> heard as {got['sound']}"
        out.append(Occurrence(e.at_ms, not wrong, what, why, e.detail))
    return out
