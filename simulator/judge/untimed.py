"""The untimed expectations: how the webhook was answered, and the state a call ended in.

They read the webhook exchange and the final states of an :class:`Observation` rather
than occurrences on the call's clock, so they have no window (pure logic, no I/O).
"""

from __future__ import annotations

import re
from typing import Any

from simulator.judge.observation import Observation, Verdict
from simulator.judge.scenario import Expectation
from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.verbs import StreamHold, plan, stream_hold

__all__ = ["call_state", "webhook_response"]

_START_STREAM = re.compile(r"<StartStream\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def webhook_response(obs: Observation, e: Expectation) -> Verdict:
    """Judge a ``webhook_response`` expectation: statuses, auth challenge, the BXML."""
    ex = obs.exchange
    if ex is None:
        return Verdict(e, False, "no webhook was sent")
    statuses = [a.status for a in ex.attempts]
    evidence: dict[str, Any] = {
        "url": ex.url,
        "outcome": ex.outcome,
        "statuses": statuses,
        "www_authenticate": [a.www_authenticate for a in ex.attempts],
        "bxml": (ex.bxml_text or "")[:1000],
        "error": ex.error,
    }
    p = e.params
    problems = []
    if "status" in p and ex.final_status != p["status"]:
        problems.append(f"the answer was {ex.final_status}, not {p['status']}")
    if "statuses" in p and statuses != p["statuses"]:
        problems.append(f"the attempts were answered {statuses}, not {p['statuses']}")
    if "delivered" in p and ex.delivered != p["delivered"]:
        problems.append(
            f"the webhook was {'accepted' if ex.delivered else 'not accepted'} ({ex.outcome})"
        )
    if "www_authenticate" in p:
        scheme = str(p["www_authenticate"]).lower()
        challenges = [a.www_authenticate for a in ex.attempts if a.status == 401]
        if not challenges:
            problems.append(f"no attempt was answered 401 (statuses {statuses})")
        elif not all(c and c.lower().startswith(scheme) for c in challenges):
            problems.append(f"the 401 carried WWW-Authenticate {challenges}, not {scheme!r}")
    bxml = ex.bxml_text or ""
    if "start_stream" in p:
        found = _START_STREAM.search(bxml)
        if found is None:
            problems.append("the BXML has no <StartStream>")
        else:
            attrs = dict(_ATTR.findall(found.group(1)))
            for key, want in dict(p["start_stream"]).items():
                if attrs.get(key) != str(want):
                    problems.append(f"<StartStream {key}> is {attrs.get(key)!r}, not {want!r}")
    if "keeps_call_up" in p:
        keeps = _stream_hold(bxml).keeps_up()
        if keeps != p["keeps_call_up"]:
            problems.append(
                "nothing that holds the call follows <StartStream>: Bandwidth hangs up at once"
                if not keeps
                else "a verb after <StartStream> keeps the call up"
            )
    if problems:
        return Verdict(e, False, "webhook: " + "; ".join(problems) + ".", evidence=evidence)
    return Verdict(e, True, f"webhook answered {statuses} ({ex.outcome}).", evidence=evidence)


def _stream_hold(bxml: str) -> StreamHold:
    """What holds the call after the answer's ``<StartStream>`` (nothing, if it is invalid)."""
    try:
        document = parse_bxml(bxml, context="webhook")
    except BxmlError:
        return StreamHold(None, (), 0.0)
    return stream_hold(plan(document, "http://bot.invalid/"))


def call_state(obs: Observation, e: Expectation) -> Verdict:
    """Judge a ``call_state`` expectation: the state and cause the call (or victim) ended in."""
    victim = e.params.get("call") == "victim"
    phase = obs.victim_phase if victim else obs.phase
    cause = obs.victim_cause if victim else obs.cause
    who = "the victim call" if victim else "the call"
    evidence = {"call": obs.victim_id if victim else obs.call_id, "state": phase, "cause": cause}
    problems = []
    if "state" in e.params and phase != e.params["state"]:
        problems.append(f"{who} ended {phase!r}, not {e.params['state']!r}")
    if "cause" in e.params and cause != e.params["cause"]:
        problems.append(f"{who}'s cause was {cause!r}, not {e.params['cause']!r}")
    if problems:
        return Verdict(e, False, "; ".join(problems) + ".", evidence=evidence)
    state = f"{who} is {phase}" + (f" ({cause})." if cause else ".")
    return Verdict(e, True, state, None, evidence)
