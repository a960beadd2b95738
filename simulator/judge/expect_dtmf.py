"""The DTMF expectations, ``gather`` and ``dtmf_webhook``: their occurrences on a call.

Split from :mod:`simulator.judge.expect`, which registers them: each turns the call's
timeline into :class:`~simulator.judge.observation.Occurrence` records, one per
``<Gather>`` that ended (``gather``: its ``digits``, ``terminatingDigit`` and why it
ended) or per ``dtmf`` webhook sent after ``<StartGather>`` (``dtmf_webhook``).
Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.judge.observation import Observation, Occurrence

__all__ = ["dtmf_webhook_occurrences", "gather_occurrences"]


def gather_occurrences(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each ``<Gather>`` that ended; ``digits``, ``terminating_digit``, ``reason`` must match."""
    out = []
    for e in obs.timeline:
        if e.kind != "gather":
            continue
        got = {
            "digits": e.detail.get("digits", ""),
            "terminating_digit": e.detail.get("terminating_digit", ""),
            "reason": e.detail.get("reason"),
        }
        wrong = [k for k in ("digits", "terminating_digit", "reason") if k in params]
        wrong = [k for k in wrong if got[k] != params[k]]
        why = "; ".join(f"its {k} was {got[k]!r}, not {params[k]!r}" for k in wrong)
        what = (
            f"gather ended ({got['reason']}) with digits {got['digits']!r}, "
            f"terminatingDigit {got['terminating_digit']!r}"
        )
        out.append(Occurrence(e.at_ms, not wrong, what, why, e.detail))
    return out


def dtmf_webhook_occurrences(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each ``dtmf`` webhook sent; ``digit`` must match when given."""
    out = []
    for e in obs.timeline:
        if e.kind != "dtmf-webhook":
            continue
        digit = e.detail.get("digit")
        ok = "digit" not in params or digit == params["digit"]
        why = "" if ok else f"its digit was {digit!r}, not {params['digit']!r}"
        out.append(Occurrence(e.at_ms, ok, f"dtmf webhook with digit {digit!r}", why, e.detail))
    return out
