"""Fault injection for the fake Voice API and OAuth endpoint.

A rule names a route (``token``, ``update_call``, ``update_bxml``, ``get_call``…) and
what goes wrong there: a status and body, a delay, or a dropped connection; once, ``n``
times, always, or with a seeded probability. Examples::

    FaultRule("token", status=500, times=1)                       # token endpoint 500 once
    FaultRule("update_call", status=409)                          # every hang-up gets 409
    FaultRule("update_bxml", status=429, headers={"Retry-After": "2"})
    FaultRule("update_call", drop=True, probability=0.3, seed=7)  # 30 % dropped, repeatable

Matching is pure (no I/O); the Voice API app applies the chosen fault.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from simulator.rest.routes import FAULT_ROUTES

__all__ = ["ROUTES", "FaultInjector", "FaultRule", "default_error_body"]

ROUTES = frozenset({*FAULT_ROUTES, "*"})

_DEFAULT_ERRORS = {
    400: ("validation", "Bad request"),
    401: ("authentication-error", "The credentials provided were invalid"),
    403: ("authorization-error", "Access is denied"),
    404: ("validation", "Call not found"),
    405: ("validation", "Method Not Allowed"),
    409: ("validation", "Call cannot be modified in its current state"),
    415: ("validation", "Content type not supported"),
    429: ("error", "Account concurrent call limit exceeded"),
    500: ("internal-error", "An unknown internal error occurred"),
    503: ("system-overloaded", "Managing too many concurrent calls"),
}


def default_error_body(status: int) -> dict[str, Any]:
    """Bandwidth's error body ``{type, description, id}`` for a status (docs/bandwidth.md §4.3)."""
    kind, description = _DEFAULT_ERRORS.get(status, ("error", f"HTTP {status}"))
    return {"type": kind, "description": description, "id": None}


@dataclass
class FaultRule:
    """What goes wrong on one route, how often."""

    route: str
    status: int | None = None
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    times: int | None = None
    probability: float | None = None
    seed: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            known = ", ".join(sorted(ROUTES))
            raise ValueError(f"fault route {self.route!r} is not one of: {known}")
        if self.status is None and not self.drop and self.delay_s <= 0:
            raise ValueError(
                f"fault on {self.route!r} does nothing: give a status, drop=True or a delay_s"
            )
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within 0..1, got {self.probability}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"fault times must be at least 1, got {self.times}")
        self._rng = random.Random(self.seed)  # noqa: S311 - repeatable test faults, not crypto
        self.fired = 0

    @property
    def label(self) -> str:
        """A short name for reports."""
        if self.name:
            return self.name
        what = "drop" if self.drop else (str(self.status) if self.status else "delay")
        return f"{self.route}:{what}"

    def response_body(self) -> dict[str, Any] | str:
        """The body to answer with: the rule's, or Bandwidth's default for the status."""
        if self.body is not None:
            return self.body
        return default_error_body(self.status or 500)

    def _applies(self) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        return self.probability is None or self._rng.random() < self.probability


class FaultInjector:
    """The set of active fault rules; the first rule that applies to a request fires."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate a rule and return it (its ``fired`` count can be checked later)."""
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def match(self, route: str) -> FaultRule | None:
        """Return the rule that fires for a request on ``route``, counting it, or None."""
        for rule in self.rules:
            if rule.route not in (route, "*"):
                continue
            if rule._applies():
                rule.fired += 1
                return rule
        return None
