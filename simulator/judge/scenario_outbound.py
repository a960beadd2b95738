"""The outbound keys of a scenario's ``call`` section: the bot dials, bwsim is the callee.

``call: {direction: outbound, trigger: {method, path, json, create_within_ms}, answer,
ring_ms}``: bwsim makes the ``trigger`` request to the bot, expects the bot to create a
call through the Voice API within ``create_within_ms``, and plays the callee, which
``answer``s (``answered``, ``busy``, ``no-answer``, ``rejected``, ``machine``) after
``ring_ms``. :func:`parse_outbound` checks these keys and names a bad one with its line.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.judge.scenario_model import (
    DEFAULT_CREATE_WITHIN_MS,
    DIRECTIONS,
    INBOUND_ONLY_KEYS,
    OUTBOUND_KEYS,
    TRIGGER_KEYS,
    TRIGGER_METHODS,
    OutboundSpec,
)
from simulator.judge.scenario_yaml import LineMap, Problem, check_number, refuse_unknown
from simulator.protocol.create_call import CALLEE_ANSWERS

__all__ = ["parse_outbound"]


def parse_outbound(raw: LineMap, at: Callable[[str], int | None]) -> OutboundSpec | None:
    """The outbound call ``raw`` (a ``call`` mapping) describes; None for an inbound call."""
    direction = raw.get("direction", "inbound")
    if direction not in DIRECTIONS:
        raise Problem(
            f"call.direction must be one of {list(DIRECTIONS)}, got {direction!r}",
            at("direction"),
            "direction",
        )
    if direction == "inbound":
        for key in sorted(OUTBOUND_KEYS - {"direction"}):
            if key in raw:
                raise Problem(
                    f"call.{key} is for outbound calls: add call.direction: outbound",
                    at(key),
                    key,
                )
        return None
    for key in sorted(INBOUND_ONLY_KEYS):
        if key in raw:
            raise Problem(
                f"call.{key} is about the initiate webhook, which an outbound call never "
                "sends; remove it",
                at(key),
                key,
            )
    trigger = raw.get("trigger")
    if not isinstance(trigger, LineMap):
        raise Problem(
            "an outbound call needs call.trigger: {method: POST, path: /dial, json: {...}}, "
            "the request that makes the bot dial",
            at("trigger") if trigger is not None else at("direction"),
            "trigger",
        )
    refuse_unknown(
        (k for k in trigger if k not in TRIGGER_KEYS), TRIGGER_KEYS, trigger, "call.trigger"
    )

    def tat(key: str) -> int | None:
        return trigger.key_lines.get(key, trigger.line)

    method = str(trigger.get("method", "POST")).upper()
    if method not in TRIGGER_METHODS:
        raise Problem(
            f"call.trigger.method must be one of {list(TRIGGER_METHODS)}, got "
            f"{trigger.get('method')!r}",
            tat("method"),
            "method",
        )
    path = trigger.get("path", "/dial")
    if not isinstance(path, str) or not path.startswith("/"):
        raise Problem(f"call.trigger.path must start with '/', got {path!r}", tat("path"), "path")
    answer = raw.get("answer", "answered")
    if answer not in CALLEE_ANSWERS:
        raise Problem(
            f"call.answer must be one of {list(CALLEE_ANSWERS)}, got {answer!r}",
            at("answer"),
            "answer",
        )
    ring = raw.get("ring_ms")
    return OutboundSpec(
        method=method,
        path=path,
        json=trigger.get("json"),
        create_within_ms=check_number(
            trigger.get("create_within_ms", DEFAULT_CREATE_WITHIN_MS),
            "call.trigger.create_within_ms",
            tat("create_within_ms"),
            "create_within_ms",
            minimum=1,
        ),
        answer=str(answer),
        ring_ms=None
        if ring is None
        else check_number(ring, "call.ring_ms", at("ring_ms"), "ring_ms"),
    )
