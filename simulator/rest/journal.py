"""The record of every request the fake Bandwidth received, and of every violation.

Tests and reports ask the journal questions such as "exactly one hang-up, for call X,
with a Bearer issued to client Y, answered 200". Nothing the bot does is only logged:
a request the fake has no route for, or a request to a host outside loopback, becomes a
:class:`Violation` here, and ``Journal.raise_violations()`` turns them into a test
failure.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.errors import UnexpectedApiRequest
from simulator.protocol.bounds import NotKept
from simulator.protocol.redact import redact, redact_text
from simulator.rest.routes import Route

__all__ = [
    "ANY_CALL",
    "MAX_ENTRIES",
    "MAX_REQUESTS_PER_ROUTE",
    "MAX_VIOLATIONS_PER_RULE",
    "Journal",
    "JournalEntry",
    "Violation",
    "redact_headers",
]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_BODY_LIMIT = 16_384

MAX_VIOLATIONS_PER_RULE = 20
"""How many violations of one kind one call keeps; the rest are only counted.

A bot that breaks a rule usually breaks it on every frame: fifty malformed frames a
second for a whole call would otherwise fill the journal, the timeline, the summary and
the report with the same line. The first 20 show the pattern and when it started; the
count of the rest (``Journal.not_kept``, a call's ``violations_not_kept``) says how long
it went on. Violations that concern no call are all kept.
"""

MAX_REQUESTS_PER_ROUTE = 2_000
"""How many requests of one route naming one call the journal keeps; the rest are counted.

A bot can send Voice API requests as fast as the fake answers them. A real call makes a
handful; 2,000 is a bot polling its call's state every 30 ms for a minute. Requests are
counted per call *and* route, so a flood of one kind (``get_call``) never crowds out the
request a judge looks for (the hang-up, the transfer). Requests naming no call (tokens,
the control API) share one count per route. ``Journal.requests_not_kept`` holds the
counts and the time of the first request not kept; the call's summary and the report say
how many (``api_requests_not_kept``), and judging treats that call's requests of that
route as incomplete from then on (:mod:`simulator.judge.expect`).
"""

MAX_ENTRIES = 100_000
"""How many entries the journal keeps in all, whatever calls they name.

The per-route cap cannot bound a flood that names a new call id in every request; this
one does (an entry is a few hundred bytes to a few KB). Past it, requests are counted
under :data:`ANY_CALL` and their route, and every call's requests of that route are
incomplete from then on.
"""

ANY_CALL = "*"
"""The call id :attr:`Journal.requests_not_kept` counts under once :data:`MAX_ENTRIES` is
reached: those requests may have named any call."""


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Copy headers with secrets replaced, keeping the auth scheme visible (``Basic ***``)."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _SECRET_HEADERS:
            scheme, _, _ = value.partition(" ")
            out[key] = f"{scheme} ***" if scheme and " " in value else "***"
        else:
            out[key] = redact_text(value)
    return out


@dataclass
class JournalEntry:
    """One request the fake Voice API or OAuth endpoint received, and its answer.

    ``route`` names the operation (``token``, ``update_call``, ``update_bxml``,
    ``get_call``, ``list_calls``, ``control``, or ``unrouted``). ``client_id`` is the
    OAuth client that was authenticated (by Basic on the token route, through the
    Bearer token elsewhere), or None. Secrets never reach an entry: credentials in
    ``headers``, and tokens, client secrets and passwords in ``body`` and
    ``response_body``, read ``***`` (:mod:`simulator.protocol.redact`).
    """

    seq: int
    at: float
    method: str
    path: str
    query: str
    route: str
    account_id: str | None
    call_id: str | None
    headers: dict[str, str]
    body: str
    status: int | None = None
    response_body: str = ""
    client_id: str | None = None
    bearer_account_id: str | None = None
    fault: str | None = None
    note: str | None = None
    duration_ms: float | None = None

    @property
    def json_body(self) -> Any:
        """The request body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for reports."""
        return asdict(self)

    def summary(self) -> str:
        """One line: method, path, status."""
        return f"#{self.seq} {self.method} {self.path} -> {self.status}"


@dataclass(frozen=True)
class Violation:
    """Something the bot did that Bandwidth would not accept, or that a test must not do.

    One record travels everywhere: the journal keeps it, the call's result lists it, and
    judges place it on the call's clock from ``at`` (``time.monotonic()``, the clock every
    call clock counts on), so nothing pairs violations with timeline events by position.
    """

    kind: str
    detail: str
    at: float = field(default_factory=time.monotonic)
    evidence: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None
    """The call it concerns, when it concerns one."""

    @property
    def rule(self) -> str | None:
        """The protocol rule broken, for violations that name one (media frames, BXML)."""
        rule = self.evidence.get("rule")
        return None if rule is None else str(rule)

    @property
    def names(self) -> frozenset[str]:
        """Every name an expectation may use for it: its kind, its rule, ``media-`` + rule."""
        names = {self.kind}
        if self.rule is not None:
            names |= {self.rule, f"media-{self.rule}"}
        return frozenset(names)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: ``kind``, ``detail``, ``call_id``, ``at`` and ``evidence``."""
        return asdict(self)

    def report(self, at_ms: float | None = None) -> dict[str, Any]:
        """The flat form reports and summaries give: kind, detail, the evidence, the time."""
        out: dict[str, Any] = {"kind": self.kind, "detail": self.detail, **self.evidence}
        if at_ms is not None:
            out.setdefault("at_ms", round(at_ms, 1))
        return out


class Journal:
    """Append-only, queryable record of requests and violations."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self.entries: list[JournalEntry] = []
        self.violations: list[Violation] = []
        self.not_kept: dict[tuple[str, str], int] = {}
        """Per ``(call_id, kind)``: violations past :data:`MAX_VIOLATIONS_PER_RULE`."""
        self.not_kept_since: dict[tuple[str, str], float] = {}
        """Per ``(call_id, kind)``: when the first violation not kept came (monotonic)."""
        self._per_call: dict[tuple[str, str], int] = {}
        self.requests_not_kept: NotKept[tuple[str | None, str]] = NotKept()
        """Per ``(call_id, route)``: requests past :data:`MAX_REQUESTS_PER_ROUTE` (monotonic
        times); under ``(ANY_CALL, route)`` those past :data:`MAX_ENTRIES`."""
        self._kept_per_route: dict[tuple[str | None, str], int] = {}
        self._listeners: list[Callable[[JournalEntry], None]] = []

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> Callable[[], None]:
        """Call ``listener`` with each entry once it is answered; returns an unsubscriber."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def answered(self, entry: JournalEntry) -> None:
        """Tell the listeners that ``entry`` has its answer (the fake calls this).

        The answer's secrets (the token route's ``access_token``) are masked here, before
        anyone reads it.
        """
        entry.response_body = redact_text(entry.response_body)
        for listener in list(self._listeners):
            listener(entry)

    def start(
        self,
        *,
        method: str,
        path: str,
        query: str,
        route: str,
        account_id: str | None,
        call_id: str | None,
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> JournalEntry:
        """Record a request as it arrives; the caller fills in the answer when it is sent.

        The entry is always returned (the fake answers through it and listeners hear of
        it), but past :data:`MAX_REQUESTS_PER_ROUTE` of its call and route, or
        :data:`MAX_ENTRIES` in all, it is only counted in :attr:`requests_not_kept`.
        """
        text = body[:_BODY_LIMIT].decode("utf-8", errors="replace")
        entry = JournalEntry(
            seq=next(self._seq),
            at=time.monotonic(),
            method=method,
            path=path,
            query=query,
            route=route,
            account_id=account_id,
            call_id=call_id,
            headers=redact_headers(headers),
            body=redact_text(text),
        )
        key = (call_id, route)
        kept = self._kept_per_route.get(key, 0)
        if len(self.entries) >= MAX_ENTRIES:
            self.requests_not_kept.add((ANY_CALL, route), entry.at)
        elif kept >= MAX_REQUESTS_PER_ROUTE:
            self.requests_not_kept.add(key, entry.at)
        else:
            self._kept_per_route[key] = kept + 1
            self.entries.append(entry)
        return entry

    def violation(
        self, kind: str, detail: str, *, call_id: str | None = None, **evidence: Any
    ) -> Violation:
        """Record a violation; it fails the test at teardown unless a test expects it.

        Past :data:`MAX_VIOLATIONS_PER_RULE` of one kind for one call, the violation is
        returned but only counted in :attr:`not_kept`. Secrets in it are masked.
        """
        v = Violation(
            kind=kind, detail=redact_text(detail), evidence=redact(evidence), call_id=call_id
        )
        if call_id is not None:
            key = (call_id, kind)
            seen = self._per_call[key] = self._per_call.get(key, 0) + 1
            if seen > MAX_VIOLATIONS_PER_RULE:
                self.not_kept[key] = seen - MAX_VIOLATIONS_PER_RULE
                self.not_kept_since.setdefault(key, v.at)
                return v
        self.violations.append(v)
        return v

    def not_kept_for(self, call_id: str) -> dict[str, int]:
        """For one call: how many violations of each kind were counted but not kept."""
        return {kind: n for (call, kind), n in self.not_kept.items() if call == call_id}

    def not_kept_since_for(self, call_id: str) -> dict[str, float]:
        """For one call: when the first violation of each kind not kept came (monotonic)."""
        return {kind: at for (call, kind), at in self.not_kept_since.items() if call == call_id}

    def requests_not_kept_for(self, call_id: str) -> dict[str, int]:
        """For one call: requests counted but not kept, per route.

        Requests past :data:`MAX_ENTRIES` may have named this call too; they are given
        as ``"<route> (any call)"``.
        """
        out: dict[str, int] = {}
        for (call, route), n in self.requests_not_kept.counts.items():
            if call == call_id:
                out[route] = n
            elif call == ANY_CALL:
                out[f"{route} (any call)"] = n
        return out

    def find(self, **criteria: Any) -> list[JournalEntry]:
        """Entries whose attributes equal every given criterion, e.g. ``route="update_call"``."""
        return [e for e in self.entries if all(getattr(e, k) == v for k, v in criteria.items())]

    def hangups(self, call_id: str | None = None) -> list[JournalEntry]:
        """Update-call requests whose body asked for ``{"state": "completed"}``."""
        out = []
        for e in self.find(route=Route.UPDATE_CALL):
            body = e.json_body
            completed = isinstance(body, dict) and body.get("state") == "completed"
            if completed and (call_id is None or e.call_id == call_id):
                out.append(e)
        return out

    def bot_requests(self) -> list[JournalEntry]:
        """Every request except the simulator's own control API."""
        return [e for e in self.entries if e.route != Route.CONTROL]

    def since(self, seq: int) -> list[JournalEntry]:
        """Entries recorded after sequence number ``seq``."""
        return [e for e in self.entries if e.seq > seq]

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest entry (0 when empty)."""
        return self.entries[-1].seq if self.entries else 0

    def clear(self) -> None:
        """Forget everything (a cheap per-test reset)."""
        self.entries.clear()
        self.violations.clear()
        self.not_kept.clear()
        self.not_kept_since.clear()
        self._per_call.clear()
        self.requests_not_kept.clear()
        self._kept_per_route.clear()

    def raise_violations(self) -> None:
        """Raise the first recorded violation as a test failure, listing the others."""
        if not self.violations:
            return
        first = self.violations[0]
        more = len(self.violations) - 1
        reason = first.detail + (f" (and {more} more violation(s))" if more else "")
        raise UnexpectedApiRequest(
            str(first.evidence.get("method", "")), str(first.evidence.get("url", "")), reason
        )
