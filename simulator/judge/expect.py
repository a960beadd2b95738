"""Judging a finished call against a scenario's expectations (pure logic, no I/O).

:func:`observe` gathers what one call left behind (timeline, webhook exchange, streams,
Voice API requests for the call and for its victim, final states, violations) into an
:class:`Observation`; :func:`judge` checks every :class:`~simulator.judge.scenario.Expectation`
against it and returns one :class:`Verdict` each, with a one-sentence ``detail`` a user
can act on and the ``evidence`` that decided it.

Each expectation kind yields *occurrences* on the call's clock (a ``clear`` at 812 ms, a
hang-up request answered 404 at 3,020 ms …) and whether each one has the asked-for
properties. The window runs from the ``after`` anchor (default: the webhook going out)
for ``within_ms`` (default: to the end of the call). ``absent`` passes when nothing
matching falls in the window; otherwise at least one (or exactly ``count``, or at least
``min_count``) must.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simulator.call.recorder import TimelineEvent
from simulator.call.result import CallResult
from simulator.errors import ExpectationFailed
from simulator.judge.expect_dtmf import dtmf_webhook_occurrences, gather_occurrences
from simulator.judge.expect_transfer import caller_hears_occurrences, transfer_occurrences
from simulator.judge.expect_verbs import verb_audio_occurrences
from simulator.judge.gaps import Gap, Gaps, request_gaps
from simulator.judge.observation import Observation, Occurrence, Verdict
from simulator.judge.scenario import CALL_START, Anchor, Expectation
from simulator.judge.templates import fill_templates
from simulator.judge.untimed import call_state, webhook_response
from simulator.protocol.bounds import NotKept
from simulator.rest.journal import JournalEntry
from simulator.rest.routes import Route

__all__ = [
    "Observation",
    "Occurrence",
    "Verdict",
    "check_call",
    "judge",
    "judge_all",
    "observe",
]


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


# -- occurrences per kind ----------------------------------------------------------------


def _events(obs: Observation, kind: str) -> list[TimelineEvent]:
    return [e for e in obs.timeline if e.kind == kind]


def _stream_ok(event: TimelineEvent, params: Mapping[str, Any]) -> tuple[bool, str]:
    wanted = params.get("stream")
    if wanted is not None and event.detail.get("stream") != wanted:
        return False, f"it was stream {event.detail.get('stream')!r}, not {wanted!r}"
    return True, ""


def _stream_accepted(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    out = []
    for e in _events(obs, "stream-accepted"):
        ok, why = _stream_ok(e, params)
        out.append(
            Occurrence(e.at_ms, ok, f"stream {e.detail.get('stream')!r} accepted", why, e.detail)
        )
    return out


def _stream_refused(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """A refusal is an HTTP error on the upgrade (uvicorn's 403) or the bot closing 1008."""
    out = []
    for e in _events(obs, "stream-refused"):
        ok, why = _stream_ok(e, params)
        status = e.detail.get("http_status")
        out.append(
            Occurrence(
                e.at_ms, ok, f"upgrade answered HTTP {status}", why, {"form": "http", **e.detail}
            )
        )
    for e in _events(obs, "ws-closed"):
        if e.detail.get("by") == "bot" and e.detail.get("code") == 1008:
            ok, why = _stream_ok(e, params)
            out.append(
                Occurrence(e.at_ms, ok, "bot closed with 1008", why, {"form": "close", **e.detail})
            )
    return out


def _ws_closed(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    out = []
    for e in _events(obs, "ws-closed"):
        ok, why = _stream_ok(e, params)
        code, by = e.detail.get("code"), e.detail.get("by")
        if ok and "code" in params and code != params["code"]:
            ok, why = False, f"the code was {code}, not {params['code']}"
        if ok and "by" in params and by != params["by"]:
            ok, why = False, f"it was closed by {by}, not by {params['by']}"
        out.append(Occurrence(e.at_ms, ok, f"closed {code} by {by}", why, e.detail))
    return out


def _play_audio(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each spell of bot speech; ``min_audio_ms`` ignores blips shorter than that."""
    wanted = params.get("encoding")
    shortest = float(params.get("min_audio_ms", 0))
    sent = sorted({t for s in obs.streams for t in s.content_types})
    wrong = [t for t in sent if wanted is not None and t != wanted]
    ends = [e.at_ms for e in _events(obs, "bot-speech-end")]
    out = []
    for e in _events(obs, "bot-speech-start"):
        end = next((t for t in ends if t >= e.at_ms), float("inf"))
        lasted = end - e.at_ms
        why = f"the bot sent playAudio as {wrong}, not {wanted!r}" if wrong else ""
        if not why and end == float("inf") and "bot-speech-end" in obs.gaps.events:
            why = "its end was not kept, so how long it lasted is unknown"
        if not why and lasted < shortest:
            why = f"it lasted {lasted:.0f} ms, under min_audio_ms {shortest:g}"
        evidence = {"content_types": sent, "lasted_ms": round(min(lasted, 1e9), 1), **e.detail}
        what = "bot audio" if lasted == float("inf") else f"bot audio ({lasted:,.0f} ms)"
        out.append(Occurrence(e.at_ms, not why, what, why, evidence))
    return out


def _clear(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    out = []
    for e in _events(obs, "clear"):
        speaking = bool(e.detail.get("bot_was_speaking"))
        ok, why = True, ""
        if "bot_was_speaking" in params and speaking != params["bot_was_speaking"]:
            ok = False
            why = "the bot was not speaking" if not speaking else "the bot was speaking"
        what = "clear while the bot spoke" if speaking else "clear while the bot was silent"
        out.append(Occurrence(e.at_ms, ok, what, why, e.detail))
    return out


def _request_evidence(entry: JournalEntry) -> dict[str, Any]:
    return {
        "method": entry.method,
        "path": entry.path,
        "route": entry.route,
        "status": entry.status,
        "call_id": entry.call_id,
        "account_id": entry.account_id,
        "content_type": entry.headers.get("content-type"),
        "body": entry.body[:300],
    }


def _requests(obs: Observation, params: Mapping[str, Any]) -> list[tuple[float, JournalEntry]]:
    return obs.victim_requests if params.get("call") == "victim" else obs.requests


def _status_ok(entry: JournalEntry, params: Mapping[str, Any]) -> tuple[bool, str]:
    if "status" in params and entry.status != params["status"]:
        return False, f"it was answered {entry.status}, not {params['status']}"
    return True, ""


def _is_hangup(entry: JournalEntry) -> bool:
    body = entry.json_body
    return (
        entry.route == Route.UPDATE_CALL
        and isinstance(body, dict)
        and body.get("state") == "completed"
    )


def _hangup_request(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    out = []
    for at, entry in _requests(obs, params):
        if _is_hangup(entry):
            ok, why = _status_ok(entry, params)
            what = f"hang-up of {entry.call_id} → {entry.status}"
            out.append(Occurrence(at, ok, what, why, _request_evidence(entry)))
    return out


def _transfer_request(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    out = []
    target = fill_templates(str(params["target"]), obs.templates) if "target" in params else None
    for at, entry in _requests(obs, params):
        if entry.route != Route.UPDATE_BXML or "<Transfer" not in entry.body:
            continue
        ok, why = _status_ok(entry, params)
        if ok and target is not None and target not in entry.body:
            ok, why = False, f"the <Transfer> does not name {target}"
        what = f"PUT …/bxml <Transfer> for {entry.call_id} → {entry.status}"
        out.append(Occurrence(at, ok, what, why, _request_evidence(entry)))
    return out


def _api_response(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    out = []
    for at, entry in _requests(obs, params):
        if entry.route == Route.CONTROL:
            continue
        ok, why = _status_ok(entry, params)
        if ok and "route" in params and entry.route != params["route"]:
            ok, why = False, f"it was route {entry.route}, not {params['route']}"
        if ok and "method" in params and entry.method != str(params["method"]).upper():
            ok, why = False, f"it was {entry.method}, not {params['method']}"
        what = f"{entry.method} {entry.path} → {entry.status}"
        out.append(Occurrence(at, ok, what, why, _request_evidence(entry)))
    return out


def _violations(obs: Observation, rule: str | None) -> list[Occurrence]:
    out = []
    for at, v in obs.violations:
        ok = rule is None or rule in v.names
        why = "" if ok else f"it was {v.kind}, not {rule}"
        out.append(Occurrence(at, ok, f"violation {v.kind}", why, v.report(at)))
    return out


def _violation(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    rule = params.get("rule")
    return _violations(obs, str(rule) if rule is not None else None)


def _callback(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    """Each webhook bwsim sent after ``initiate`` (disconnect, redirect, mediaStream* …).

    With ``event``, only the webhooks of that event are candidates: a redirect is no
    wrong disconnect.
    """
    out = []
    for e in _events(obs, "callback"):
        d = e.detail
        if "event" in params and d.get("event") != params["event"]:
            continue
        why = ""
        for key in ("delivered", "status", "cause", "fallback"):
            if not why and key in params and d.get(key) != params[key]:
                why = f"its {key} was {d.get(key)!r}, not {params[key]!r}"
        if not why and "method" in params and d.get("method") != str(params["method"]).upper():
            why = f"it was sent with {d.get('method')}, not {params['method']}"
        state = "delivered" if d.get("delivered") else f"not delivered ({d.get('outcome')})"
        where = " to the fallback" if d.get("fallback") else ""
        what = f"{d.get('event')} webhook {d.get('method')} {d.get('url')}{where}: {state}"
        out.append(Occurrence(e.at_ms, not why, what, why, d))
    return out


def _orphaned_leg(obs: Observation, params: Mapping[str, Any]) -> list[Occurrence]:
    return [o for o in _violations(obs, "orphaned-leg") if o.ok]


_REQUEST_KINDS = frozenset({"hangup_request", "transfer_request", "api_response"})
Finder = Callable[[Observation, Mapping[str, Any]], list[Occurrence]]
_FINDERS: Mapping[str, Finder] = {
    "stream_accepted": _stream_accepted,
    "stream_refused": _stream_refused,
    "ws_closed": _ws_closed,
    "play_audio": _play_audio,
    "clear": _clear,
    "hangup_request": _hangup_request,
    "transfer_request": _transfer_request,
    "api_response": _api_response,
    "violation": _violation,
    "callback": _callback,
    "orphaned_leg": _orphaned_leg,
    "gather": gather_occurrences,
    "dtmf_webhook": dtmf_webhook_occurrences,
    "transfer": transfer_occurrences,
    "caller_hears": caller_hears_occurrences,
    "verb_audio": verb_audio_occurrences,
}


_LABELS: Mapping[str, str] = {"caller_hears": "bot sound heard by the caller"}
"""How a verdict names a kind whose name does not read as a noun."""

# -- judging -----------------------------------------------------------------------------


def _anchor_time(obs: Observation, anchor: Anchor) -> float | None:
    if anchor == CALL_START or anchor.kind == "call-start":
        return anchor.delay_ms
    times = sorted(obs.times(anchor.kind))
    return times[anchor.nth - 1] + anchor.delay_ms if len(times) >= anchor.nth else None


def judge(obs: Observation, e: Expectation) -> Verdict:
    """Check one expectation against what the call left behind.

    Where the record it reads is incomplete in its window (:mod:`simulator.judge.gaps`),
    a verdict that rests on something not happening (``absent``, ``count``,
    ``max_count``) fails, saying what was not kept; a pass on records that were kept
    stands, and a failure says what was not kept too.
    """
    verdict = _judge(obs, e)
    window = verdict.evidence.get("window_ms")
    if window is None:
        return verdict
    end = float("inf") if window[1] is None else float(window[1])
    gaps = [g for g in obs.gaps.reading(e.kind, e.params) if g.from_ms <= end]
    if not gaps:
        return verdict
    clause = "; ".join(g.describe() for g in gaps)
    evidence = {**verdict.evidence, "not_kept": [g.describe() for g in gaps]}
    if verdict.passed and (e.absent or e.count is not None or e.max_count is not None):
        detail = (
            f"cannot be shown: {clause} (the bot went past a per-call bound), so what the "
            "expectation forbids or counts may be among them."
        )
        return Verdict(e, False, detail, None, evidence)
    detail = verdict.detail if verdict.passed else f"{verdict.detail} ({clause}.)"
    return Verdict(e, verdict.passed, detail, verdict.at_ms, evidence)


def _judge(obs: Observation, e: Expectation) -> Verdict:
    if e.kind == "webhook_response":
        return webhook_response(obs, e)
    if e.kind == "call_state":
        return call_state(obs, e)
    t0 = _anchor_time(obs, e.after)
    label = _LABELS.get(e.kind, e.kind.replace("_", " "))
    if e.kind in _REQUEST_KINDS:
        label += " for the victim call" if e.params.get("call") == "victim" else " for this call"
    if t0 is None:
        seen = len(obs.times(e.after.kind))
        gap = obs.gaps.events.get(e.after.kind)
        if gap is not None:
            return Verdict(
                e,
                False,
                f"cannot be shown: {e.after.describe()} was not kept ({seen} kept; "
                f"{gap.describe()}), so the window of this {label} is unknown.",
            )
        if e.absent:
            return Verdict(e, True, f"no {label}: {e.after.describe()} never happened.")
        ended = [x for x in obs.timeline if x.kind in ("call-ended", "transfer")]
        why = ""
        if ended:
            cause = ended[0].detail.get("cause", ended[0].kind)
            why = f"; the call ended at {_ms(ended[0].at_ms)} ({cause})"
        return Verdict(
            e,
            False,
            f"{e.after.describe()} never happened ({seen} seen{why}), so no {label} could "
            "follow it.",
        )
    end = t0 + e.within_ms if e.within_ms is not None else float("inf")
    found = sorted(_FINDERS[e.kind](obs, e.params), key=lambda o: o.at_ms)
    after = [o for o in found if o.at_ms >= t0]
    inside = [o for o in after if o.at_ms <= end]
    matching = [o for o in inside if o.ok]
    since = "" if e.after == CALL_START else f" after {e.after.describe()}"
    budget = f" within {_ms(e.within_ms)}{since}" if e.within_ms is not None else since
    evidence: dict[str, Any] = {
        "window_ms": [round(t0, 1), None if end == float("inf") else round(end, 1)],
        "seen": [{"at_ms": round(o.at_ms, 1), "what": o.what, "ok": o.ok} for o in found[:20]],
    }
    if e.absent:
        if not matching:
            return Verdict(e, True, f"no {label}{budget}, as required.", evidence=evidence)
        first = matching[0]
        evidence["offending"] = dict(first.evidence)
        return Verdict(
            e,
            False,
            f"{first.what} at {_ms(first.at_ms)}{budget}, which must not happen.",
            first.at_ms,
            evidence,
        )
    count = len(matching)
    if e.count is not None and count != e.count:
        return Verdict(
            e, False, f"{label}: {count} seen{budget}, expected exactly {e.count}.", None, evidence
        )
    if e.max_count is not None and count > e.max_count:
        most = f"{label}: {count} seen{budget}, expected at most {e.max_count}."
        return Verdict(e, False, most, None, evidence)
    needed = e.min_count or (0 if e.count == 0 or e.max_count is not None else 1)
    if count >= needed:
        if not matching:
            return Verdict(e, True, f"no {label}{budget}, as counted.", evidence=evidence)
        first = matching[0]
        evidence["matched"] = dict(first.evidence)
        delta = "" if e.after == CALL_START else f" ({_ms(first.at_ms - t0)}{since})"
        many = f"; {count} in all" if count > 1 else ""
        return Verdict(
            e, True, f"{first.what} at {_ms(first.at_ms)}{delta}{many}.", first.at_ms, evidence
        )
    detail = _miss(label, budget, needed, count, t0, after, inside)
    return Verdict(e, False, detail, None, evidence, _lateness(e, needed, t0, after, inside))


def _lateness(
    e: Expectation,
    needed: int,
    t0: float,
    after: Sequence[Occurrence],
    inside: Sequence[Occurrence],
) -> float | None:
    """How late the one awaited occurrence came, over ``within_ms``; None if that is not all.

    Only a single awaited occurrence that came after the budget, with nothing wrong inside
    it, is a miss the machine's load can explain; a wrong one, too few, or none at all is
    what the bot did.
    """
    if e.within_ms is None or e.within_ms <= 0 or needed != 1 or any(not o.ok for o in inside):
        return None
    late = [o for o in after if o.ok]
    return (late[0].at_ms - t0) / e.within_ms if late else None


def _miss(  # noqa: PLR0917 - one sentence from the facts judge() already has
    label: str,
    budget: str,
    needed: int,
    count: int,
    t0: float,
    after: Sequence[Occurrence],
    inside: Sequence[Occurrence],
) -> str:
    """Why too few occurrences matched, in one sentence."""
    if needed > 1 and count:
        return f"{label}: only {count} seen{budget}, expected at least {needed}."
    wrong = [o for o in inside if not o.ok]
    if wrong:
        return f"{wrong[0].what} at {_ms(wrong[0].at_ms)}, but {wrong[0].why_not}."
    late = [o for o in after if o.ok]
    if late:
        return (
            f"the first {label} came at {_ms(late[0].at_ms)}, {_ms(late[0].at_ms - t0)} "
            f"after its anchor: over the budget{budget}."
        )
    return f"no {label}{budget}."


def judge_all(
    obs: Observation, expectations: Sequence[Expectation], *, ordered: bool = False
) -> list[Verdict]:
    """Check every expectation; with ``ordered``, matched ones must come in listed order.

    Only expectations of one occurrence take part in the order: ``absent`` ones and those
    that count (``count``, ``min_count``, ``max_count``) span the call.
    """
    verdicts = [judge(obs, e) for e in expectations]
    if ordered:
        last: tuple[float, Verdict] | None = None
        for n, v in enumerate(verdicts):
            e = v.expectation
            spans = e.absent or e.count is not None or e.min_count or e.max_count is not None
            if not v.passed or v.at_ms is None or spans:
                continue
            if last is not None and v.at_ms < last[0]:
                detail = (
                    f"{v.expectation.describe()} happened at {_ms(v.at_ms)}, before "
                    f"{last[1].expectation.describe()} at {_ms(last[0])}: out of order."
                )
                verdicts[n] = Verdict(v.expectation, False, detail, v.at_ms, v.evidence)
            else:
                last = (v.at_ms, v)
    return verdicts


def observe(
    result: CallResult,
    entries: Sequence[JournalEntry],
    *,
    victim: tuple[str, str, bool] | None = None,
    victim_phase: str | None = None,
    victim_cause: str | None = None,
    templates: Mapping[str, str] | None = None,
    requests_not_kept: NotKept[tuple[str | None, str]] | None = None,
) -> Observation:
    """Build the :class:`Observation` of a finished call from the journal's ``entries``.

    ``victim`` is ``(call_id, account_id, other_account)``: requests naming that call, or
    (when it is in another account) that account, are the victim's.
    ``requests_not_kept`` is the journal's count of requests it did not keep
    (``Journal.requests_not_kept``); without it, the call's own count is taken to start
    at the call's beginning.
    """
    to_call_ms = result.recorder.clock.at
    gaps = _gaps(result, victim, requests_not_kept)
    own = [(to_call_ms(e.at), e) for e in entries if e.call_id == result.call_id]
    victim_requests: list[tuple[float, JournalEntry]] = []
    if victim is not None:
        v_call, v_account, other = victim
        victim_requests = [
            (to_call_ms(e.at), e)
            for e in entries
            if e.route != Route.CONTROL
            and (e.call_id == v_call or (other and e.account_id == v_account))
        ]
    return Observation(
        call_id=result.call_id,
        timeline=result.timeline,
        exchange=result.exchange,
        streams=list(result.streams),
        requests=own,
        victim_requests=victim_requests,
        phase=result.phase,
        cause=result.disconnect_cause,
        victim_id=victim[0] if victim else None,
        victim_phase=victim_phase,
        victim_cause=victim_cause,
        violations=[(to_call_ms(v.at), v) for v in result.violations],
        templates=dict(templates or {}),
        gaps=gaps,
    )


def _gaps(
    result: CallResult,
    victim: tuple[str, str, bool] | None,
    requests_not_kept: NotKept[tuple[str | None, str]] | None,
) -> Gaps:
    """Where the call's timeline, requests and violations were not all kept."""
    to_call_ms = result.recorder.clock.at
    events = result.recorder.events_not_kept
    gaps = Gaps(
        events={
            kind: Gap(f"{kind} events", n, events.first_at[kind])
            for kind, n in events.counts.items()
        },
        violations={
            kind: Gap(
                f"{kind} violations",
                n,
                to_call_ms(result.violations_not_kept_since[kind])
                if kind in result.violations_not_kept_since
                else 0.0,
            )
            for kind, n in result.violations_not_kept.items()
        },
    )
    if requests_not_kept is None:
        gaps.requests = {
            route: Gap(f"{route} requests", n, 0.0) for route, n in result.requests_not_kept.items()
        }
        return gaps
    gaps.requests = request_gaps(requests_not_kept, to_call_ms, lambda call: call == result.call_id)
    if victim is not None:
        v_call, _, other = victim
        gaps.victim_requests = request_gaps(
            requests_not_kept, to_call_ms, lambda call: other or call == v_call
        )
    return gaps


def check_call(
    result: CallResult,
    entries: Sequence[JournalEntry],
    expectations: Sequence[Expectation],
    *,
    ordered: bool = False,
    requests_not_kept: NotKept[tuple[str | None, str]] | None = None,
) -> list[Verdict]:
    """Judge a finished call; raises :class:`ExpectationFailed` listing every verdict.

    ``entries`` are the fake's journal entries (those naming the call are its requests);
    ``requests_not_kept`` the journal's count of those it did not keep.
    The message shows each expectation with its verdict, then the call's timeline, so a
    failing test says what was expected, what was seen, and when.
    """
    __tracebackhide__ = True  # pytest: show the test's line, not this function's
    obs = observe(result, entries, requests_not_kept=requests_not_kept)
    verdicts = judge_all(obs, expectations, ordered=ordered)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        lines = [f"{len(failed)} of {len(verdicts)} expectations failed for call {result.call_id}:"]
        for v in verdicts:
            mark = "ok  " if v.passed else "FAIL"
            lines.append(f"  {mark}  {v.expectation.describe()}: {v.detail}")
        lines.append("the call's timeline:")
        lines.extend(
            "  " + e.describe() for e in result.timeline if e.kind not in ("verb", "api-request")
        )
        lines.extend(
            f"  {to:9.0f} ms  api {e.method} {e.path} -> {e.status}" for to, e in obs.requests
        )
        raise ExpectationFailed(result.call_id, "\n".join(lines), len(failed))
    return verdicts
