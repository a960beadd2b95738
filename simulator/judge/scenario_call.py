"""The ``call`` section of a scenario: how Bandwidth places the call (:data:`CALL_KEYS`).

:func:`parse_call` checks every key and names a bad one with its line; the outbound keys
are :mod:`simulator.judge.scenario_outbound`'s, ``call.transfer``
:mod:`simulator.judge.scenario_transfer`'s, ``call.signing``
:mod:`simulator.judge.scenario_signing`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.judge.scenario_model import CALL_KEYS, CallSpec
from simulator.judge.scenario_outbound import parse_outbound
from simulator.judge.scenario_signing import parse_signing
from simulator.judge.scenario_transfer import parse_transfer
from simulator.judge.scenario_yaml import (
    LineMap,
    Problem,
    check_integer,
    check_number,
    check_templates,
    refuse_unknown,
)
from simulator.protocol.verbs import PLAY_AUDIO_S
from simulator.protocol.webhook_auth import AUTH_MODES
from simulator.protocol.wire import DEFAULT_WIRE, WIRES

__all__ = ["RING_SOUNDS", "parse_call"]

RING_SOUNDS = ("ringback", "silence")
"""What ``call.ring_sound`` may be (``CallOptions.ring_sound``)."""


def parse_call(raw: Any, line: int | None) -> CallSpec:
    """The ``call`` section ``raw`` (at ``line``) describes; a bad key or value is named."""
    if raw is None:
        return CallSpec()
    if not isinstance(raw, LineMap):
        raise Problem(f"call must be a mapping of {sorted(CALL_KEYS)}", line, "call")
    refuse_unknown((k for k in raw if k not in CALL_KEYS), CALL_KEYS, raw, "call")

    def at(key: str) -> int | None:
        return raw.key_lines.get(key, raw.line)

    auth = raw.get("auth", "challenge")
    if auth not in AUTH_MODES:
        raise Problem(f"call.auth must be one of {list(AUTH_MODES)}, got {auth!r}", at("auth"))
    for key in ("body", "start_metadata"):
        value = raw.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise Problem(f"call.{key} must be a mapping of fields to replace", at(key), key)
        check_templates(value, at(key), key)
    raw_body = raw.get("raw_body")
    if raw_body is not None and not isinstance(raw_body, str):
        raise Problem("call.raw_body must be a string (sent as it is)", at("raw_body"))
    if raw_body is not None and raw.get("body") is not None:
        raise Problem("give call.body or call.raw_body, not both", at("raw_body"), "raw_body")
    for key in ("webhook_path", "disconnect_path"):  # paths on the bot
        value = raw.get(key, "/")
        if not isinstance(value, str) or not value.startswith("/"):
            why = f"call.{key} must be a path starting with '/', got {value!r}"
            raise Problem(why, at(key), key)
    transfer, transfer_stream = parse_transfer(raw, at)
    ring_sound = raw.get("ring_sound", "ringback")
    if ring_sound not in RING_SOUNDS:
        why = f"call.ring_sound must be one of {list(RING_SOUNDS)}, got {ring_sound!r}"
        raise Problem(why, at("ring_sound"), "ring_sound")
    wire = raw.get("wire", DEFAULT_WIRE)
    if wire not in WIRES:
        why = f"call.wire must be one of {list(WIRES)}, got {wire!r}"
        raise Problem(why, at("wire"), "wire")
    return CallSpec(
        auth=str(auth),
        from_=str(raw.get("from", CallSpec.from_)),
        to=str(raw.get("to", CallSpec.to)),
        webhook_path=raw.get("webhook_path", "/"),
        disconnect_path=raw.get("disconnect_path"),
        body=dict(raw["body"]) if raw.get("body") is not None else None,
        raw_body=raw_body,
        start_metadata=dict(raw["start_metadata"]) if raw.get("start_metadata") else None,
        stream_delay_ms=check_number(
            raw.get("stream_delay_ms", 0), "call.stream_delay_ms", at("stream_delay_ms"), "call"
        ),
        max_call_s=check_number(
            raw.get("max_call_s", CallSpec.max_call_s), "call.max_call_s", at("max_call_s"), "call"
        ),
        orphan_grace_s=check_number(
            raw.get("orphan_grace_s", CallSpec.orphan_grace_s),
            "call.orphan_grace_s",
            at("orphan_grace_s"),
            "call",
        ),
        sequence_start=check_integer(
            raw.get("sequence_start", 1), "call.sequence_start", at("sequence_start"), "call"
        ),
        wire=wire,
        linger_ms=check_number(raw.get("linger_ms", 0), "call.linger_ms", at("linger_ms"), "call"),
        outbound=parse_outbound(raw, at),
        transfer=transfer,
        transfer_stream=transfer_stream,
        play_audio_s=check_number(
            raw.get("play_audio_s", PLAY_AUDIO_S), "call.play_audio_s", at("play_audio_s"), "call"
        ),
        ring_sound=ring_sound,
        signing=parse_signing(raw, at),
    )
