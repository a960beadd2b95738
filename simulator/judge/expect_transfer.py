"""The transfer expectations, ``transfer`` and ``caller_hears``: their occurrences on a call.

Split from :mod:`simulator.judge.expect`, which registers them. ``transfer`` is each
``<Transfer>`` that ended (the ``transfer-ended`` timeline event: the B-leg's ``cause``,
whether a target was ``bridged``, and who it was ``to``). ``caller_hears`` is each moment
the caller hears the bot: bot audio on a stream (``bot-speech-start``) or a verb that
plays to the caller (``<SpeakSentence>``, ``<PlayAudio>``) — after a transfer that
failed, a caller who hears nothing was left in silence or dropped.
Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.judge.observation import Observation, Occurrence

__all__ = ["AUDIBLE_VERBS", "caller_hears_occurrences", "transfer_occurrences"]

AUDIBLE_VERBS = frozenset({"SpeakSentence", "PlayAudio"})
"""Verbs the caller hears (``<Gather>`` prompts are its ``gather-start``)."""


def transfer_occurrences(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each transfer that ended; ``cause``, ``bridged`` and ``to`` must match when given."""
    out = []
    for e in obs.timeline:
        if e.kind != "transfer-ended":
            continue
        got = {k: e.detail.get(k) for k in ("cause", "bridged", "to")}
        wrong = [k for k in ("cause", "bridged", "to") if k in params and got[k] != params[k]]
        why = "; ".join(f"its {k} was {got[k]!r}, not {params[k]!r}" for k in wrong)
        state = "bridged" if got["bridged"] else "not bridged"
        what = f"transfer to {got['to']} ended ({got['cause']}, {state})"
        out.append(Occurrence(e.at_ms, not wrong, what, why, e.detail))
    return out


def caller_hears_occurrences(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each start of bot audio on a stream, and each verb that plays to the caller."""
    del params  # the kind takes none besides the common keys
    out = []
    for e in obs.timeline:
        if e.kind == "bot-speech-start":
            what = "the bot's audio on the stream"
        elif e.kind == "verb" and e.detail.get("verb") in AUDIBLE_VERBS:
            what = f"<{e.detail['verb']}> from the bot's BXML"
        elif e.kind == "gather-start":
            what = "a <Gather> and its prompts"
        else:
            continue
        out.append(Occurrence(e.at_ms, True, what, "", e.detail))
    return out
