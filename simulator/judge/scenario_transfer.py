"""The ``transfer`` key of a scenario's ``call`` section: what the people a transfer dials do.

``call: {transfer: {answer, ring_ms, talk_ms, stream}}``: every target of the bot's
``<Transfer>`` rings for ``ring_ms``, then ``answer``s (``answered``, ``busy``,
``no-answer``, ``rejected``) and, answered, talks for ``talk_ms`` before hanging up;
``stream`` is what the A-leg's media stream does meanwhile (``ends``, the Pipecat guide's
account, or ``stays``, the API reference's; docs/bandwidth.md §5.5).
:func:`parse_transfer` checks these keys and names a bad one with its line.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.judge.scenario_yaml import LineMap, Problem, check_number, refuse_unknown
from simulator.protocol.transfer import (
    DEFAULT_TALK_MS,
    TRANSFER_ANSWERS,
    TRANSFER_STREAMS,
    TransferParty,
    TransferStream,
)

__all__ = ["TRANSFER_KEYS", "parse_transfer"]

TRANSFER_KEYS = frozenset({"answer", "ring_ms", "talk_ms", "stream"})


def parse_transfer(
    raw: LineMap, at: Callable[[str], int | None]
) -> tuple[TransferParty, TransferStream]:
    """The transfer party and stream account ``raw`` (a ``call`` mapping) asks for."""
    spec = raw.get("transfer")
    if spec is None:
        return TransferParty(), "ends"
    if not isinstance(spec, LineMap):
        raise Problem(
            f"call.transfer must be a mapping of {sorted(TRANSFER_KEYS)}",
            at("transfer"),
            "transfer",
        )
    refuse_unknown(
        (k for k in spec if k not in TRANSFER_KEYS), TRANSFER_KEYS, spec, "call.transfer"
    )

    def tat(key: str) -> int | None:
        return spec.key_lines.get(key, spec.line)

    answer = spec.get("answer", "answered")
    if answer not in TRANSFER_ANSWERS:
        why = f"call.transfer.answer must be one of {list(TRANSFER_ANSWERS)}, got {answer!r}"
        raise Problem(why, tat("answer"), "answer")
    stream = spec.get("stream", "ends")
    if stream not in TRANSFER_STREAMS:
        why = f"call.transfer.stream must be one of {list(TRANSFER_STREAMS)}, got {stream!r}"
        raise Problem(why, tat("stream"), "stream")
    ring = spec.get("ring_ms")
    party = TransferParty(
        answer=str(answer),
        ring_ms=None
        if ring is None
        else check_number(ring, "call.transfer.ring_ms", tat("ring_ms"), "ring_ms"),
        talk_ms=check_number(
            spec.get("talk_ms", DEFAULT_TALK_MS), "call.transfer.talk_ms", tat("talk_ms"), "talk_ms"
        ),
    )
    return party, stream
