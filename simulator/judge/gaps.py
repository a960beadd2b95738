"""Where a call's record is incomplete, so judging never reads a dropped record as absent.

The timeline, the journal and a call's violations keep the first records of each sort
and count the rest (``MAX_EVENTS_PER_KIND``, ``MAX_REQUESTS_PER_ROUTE``,
``MAX_VIOLATIONS_PER_RULE``). Past that point a flooding bot's record is partial: an
``absent`` expectation whose offending event came after the cap would pass, and a count
would come out short. A :class:`Gap` says from when one sort of record is partial;
:meth:`Gaps.reading` gives the gaps an expectation reads, and the judge refuses a pass
that rests on records that were not kept (pure logic, no I/O).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.protocol.bounds import NotKept
from simulator.rest.journal import ANY_CALL
from simulator.rest.routes import Route

__all__ = ["Gap", "Gaps", "request_gaps"]

_EVENT_SOURCES: Mapping[str, tuple[str, ...]] = {
    "stream_accepted": ("stream-accepted",),
    "stream_refused": ("stream-refused", "ws-closed"),
    "ws_closed": ("ws-closed",),
    "play_audio": ("bot-speech-start", "bot-speech-end"),
    "clear": ("clear",),
    "gather": ("gather",),
    "dtmf_webhook": ("dtmf-webhook",),
    "verb_audio": ("verb-audio-start", "verb-audio-end"),
    "callback": ("callback",),
    "transfer": ("transfer-ended",),
    "caller_hears": ("bot-speech-start", "verb", "gather-start"),
}
"""The timeline kinds each timed expectation reads."""

_REQUEST_ROUTES: Mapping[str, frozenset[str]] = {
    "hangup_request": frozenset({Route.UPDATE_CALL}),
    "transfer_request": frozenset({Route.UPDATE_BXML}),
}
"""The routes each request expectation reads (``api_response`` reads every route)."""


@dataclass(frozen=True)
class Gap:
    """One sort of record a bound stopped keeping: what, how many, from when."""

    what: str
    """A few words: ``clear events``, ``update_call requests``, ``media-bad-json violations``."""
    count: int
    from_ms: float
    """When the first record not kept came, on the call's clock."""

    def describe(self) -> str:
        """One clause for a verdict."""
        return f"{self.count:,} {self.what} from {self.from_ms:,.0f} ms on were not kept"


@dataclass
class Gaps:
    """Every gap in one call's record, by what it is a gap in."""

    events: dict[str, Gap] = field(default_factory=dict)
    """Per timeline kind."""
    requests: dict[str, Gap] = field(default_factory=dict)
    """Per route: requests that may have named this call."""
    victim_requests: dict[str, Gap] = field(default_factory=dict)
    """Per route: requests that may have named the victim call (or its account)."""
    violations: dict[str, Gap] = field(default_factory=dict)
    """Per violation kind."""

    def reading(self, kind: str, params: Mapping[str, Any]) -> list[Gap]:
        """The gaps in what an expectation of ``kind`` with ``params`` reads."""
        if kind in _EVENT_SOURCES:
            return [self.events[k] for k in _EVENT_SOURCES[kind] if k in self.events]
        if kind in {*_REQUEST_ROUTES, "api_response"}:
            gaps = self.victim_requests if params.get("call") == "victim" else self.requests
            routes = _REQUEST_ROUTES.get(kind)
            if kind == "api_response" and "route" in params:
                routes = frozenset({str(params["route"])})
            return [
                gap
                for route, gap in gaps.items()
                if route != Route.CONTROL and (routes is None or route in routes)
            ]
        if kind == "orphaned_leg":
            return [gap for k, gap in self.violations.items() if k == "orphaned-leg"]
        if kind == "violation":
            rule = params.get("rule")
            return [gap for k, gap in self.violations.items() if _may_carry(k, rule)]
        return []


def _may_carry(kind: str, rule: object) -> bool:
    """Whether a violation of ``kind`` may answer to the name ``rule``.

    A media violation's kind is ``media-`` + its rule; any other kind may carry a rule of
    its own in its evidence (``invalid-bxml`` names the BXML rule), so it may match any.
    """
    if rule is None or not kind.startswith("media-"):
        return True
    return rule in (kind, kind.removeprefix("media-"))


def request_gaps(
    not_kept: NotKept[tuple[str | None, str]],
    to_call_ms: Callable[[float], float],
    belongs: Callable[[str | None], bool],
) -> dict[str, Gap]:
    """Per route, the requests not kept whose call id ``belongs`` (or may be any call)."""
    out: dict[str, Gap] = {}
    for (call, route), n in not_kept.counts.items():
        if call != ANY_CALL and not belongs(call):
            continue
        at = to_call_ms(not_kept.first_at[(call, route)])
        old = out.get(route)
        total = n if old is None else n + old.count
        out[route] = Gap(f"{route} requests", total, at if old is None else min(at, old.from_ms))
    return out
