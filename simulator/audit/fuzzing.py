"""Hypothesis strategies for what an attacker can send on the media socket. No I/O.

A generated example is a sequence of frames sent right after the socket opens with a
genuine token, and how the connection ends. The frames cover what the issue asks for:
``start`` frames with missing and extra fields, wrong types, huge and unicode strings,
URL metacharacters, ids of live calls that are not the socket's (:class:`Targets`),
duplicate ``start`` frames, ``media`` before ``start``, ``stop`` first, non-JSON text and
binary frames. Well-formed frames come in every wire profile
(:mod:`simulator.protocol.wire`: ``eventType`` first or last, ``PCMU`` or ``audio/PCMU``,
``accountId`` a string or a number), so a bot that parses only one form is caught.
:func:`pinned_examples` are the shapes every run tries first, whatever
the example budget (a duplicate ``start`` naming the victim, ``media`` then a forged
``start``).

The invariant is checked by the audit (``fuzz.start_metadata``), not here: no Voice API
request except for the socket's own call, no 1011/1006 close before ``stop``, no 5xx,
the bot stays up. :func:`about_trusted_call` is the test of "the socket's own call", and
:func:`replay_scenario` turns a failing example into a bwsim scenario that replays it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from hypothesis import strategies as st

from simulator.protocol.media import (
    SILENT_FRAME,
    StreamConfig,
    media_event,
    start_event,
    stop_event,
    track_list,
)
from simulator.protocol.wire import DEFAULT_WIRE, PROFILES, WireProfile, wire_of

__all__ = [
    "OWN_CALL",
    "Ending",
    "Frame",
    "Targets",
    "about_trusted_call",
    "encode",
    "endings",
    "frame_sequences",
    "pinned_examples",
    "replay_scenario",
]

Frame = dict[str, Any] | str | bytes
"""A JSON object (sent as JSON text), raw text, or a binary frame."""
Ending = Literal["stop", "close", "drop"]

_METACHARACTERS: Final = (
    "/",
    "../",
    "?",
    "#",
    "%2F",
    "%00",
    "\n",
    "\r\n",
    " ",
    "\x00",
    "\u202e",
    "\\",
    "@",
    ";",
    "&state=completed",
)
OWN_CALL: Final = "c-bwsim-own-call"
"""Stands for the example's own call id; replaced in each frame before it is sent."""
_TEXT_CHARS: Final = st.characters(exclude_categories=["Cs"])  # no lone surrogates: not UTF-8


@dataclass(frozen=True)
class Targets:
    """Live ids the generated frames aim at: the socket's own call and two victims."""

    own_call: str
    own_account: str
    victim_call: str
    victim_account: str
    other_call: str
    other_account: str


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Any JSON value (small)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(_TEXT_CHARS, max_size=12)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def nasty_text() -> st.SearchStrategy[str]:
    """Strings a careless bot mishandles: metacharacters, unicode, huge ones."""
    text = st.text(_TEXT_CHARS, max_size=40)
    huge = st.builds(
        lambda unit, count: unit * count,
        st.sampled_from(["a", "é", "/", "😀", "%", "\\"]),
        st.integers(1_000, 70_000),
    )
    return st.one_of(st.sampled_from(_METACHARACTERS), text, huge)


def _id_values(real: list[str]) -> st.SearchStrategy[Any]:
    base = st.sampled_from(real)
    dressed = st.builds(lambda r, m: r + m, base, st.sampled_from(_METACHARACTERS))
    prefixed = st.builds(lambda r, m: m + r, base, st.sampled_from(("../", "/", "%2F")))
    # Mostly real ids (the attack), often dressed up, sometimes garbage.
    return st.one_of(
        base, base, base, base, base, base, dressed, prefixed, nasty_text(), json_values(3)
    )


def _stream_ids() -> st.SearchStrategy[Any]:
    valid = st.builds(lambda u, h: f"s-{h:08x}-{u}", st.uuids(), st.integers(0, 2**32 - 1))
    return st.one_of(valid, valid, valid, nasty_text(), json_values(3))


def _profiles() -> st.SearchStrategy[WireProfile]:
    """Every wire profile: the forms of the frames Bandwidth is known to send."""
    return st.sampled_from(list(PROFILES.values()))


def _tracks() -> st.SearchStrategy[Any]:
    return st.one_of(
        _profiles().map(lambda wire: track_list(wire=wire)),
        st.just(["inbound"]),
        st.lists(json_values(3), max_size=3),
    )


_KEYS: Final = ("accountId", "callId", "streamId", "streamName", "tracks")


def metadata(targets: Targets) -> st.SearchStrategy[Any]:
    """A ``start`` metadata object: the real keys (a few dropped), wrong types, extra keys.

    Most are well-shaped enough for a bot to accept the stream, so what it then does with
    the forged ids is exercised, not only its first validation.
    """
    calls = [targets.own_call, targets.victim_call, targets.other_call]
    accounts = [targets.own_account, targets.victim_account, targets.other_account]
    fields = st.fixed_dictionaries(
        {
            "accountId": _id_values(accounts),
            "callId": _id_values(calls),
            "streamId": _stream_ids(),
            "streamName": st.one_of(st.just("bot"), st.just("bot"), nasty_text()),
            "tracks": _tracks(),
        }
    )
    dropped = st.sets(st.sampled_from(_KEYS), max_size=2)
    extra = st.dictionaries(
        st.one_of(
            st.sampled_from(["callUrl", "call_id", "CallId", "account"]), st.text(max_size=8)
        ),
        st.one_of(_id_values(calls), json_values(3)),
        max_size=3,
    )
    merged = st.builds(
        lambda f, d, e: {**e, **{k: v for k, v in f.items() if k not in d}}, fields, dropped, extra
    )
    return st.one_of(merged, merged, merged, json_values(3))


def forged_starts(targets: Targets) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed ``start`` frames whose ids are forged: a bot accepts these streams."""
    calls = [targets.own_call, targets.victim_call, targets.other_call]
    accounts = [targets.own_account, targets.victim_account, targets.other_account]
    extra = st.dictionaries(
        st.sampled_from(["callUrl", "call_id", "CallId", "account", "tag"]),
        st.one_of(_id_values(calls), json_values(2)),
        max_size=2,
    )

    def forge(
        account: Any, call: Any, stream: str, more: dict[str, Any], wire: WireProfile
    ) -> dict[str, Any]:
        # A genuine frame from the media protocol's builder, in one of the wire profiles,
        # then the forged extra keys put in front of the real ones, as an attacker would.
        frame = _start(account, call, stream, wire)
        frame["metadata"] = {**more, **frame["metadata"]}
        return frame

    return st.builds(
        forge,
        _id_values(accounts),
        _id_values(calls),
        st.builds(lambda u, h: f"s-{h:08x}-{u}", st.uuids(), st.integers(0, 2**32 - 1)),
        extra,
        _profiles(),
    )


def mangled_starts(targets: Targets) -> st.SearchStrategy[dict[str, Any]]:
    """``start`` frames with missing, extra and wrongly typed fields anywhere."""
    start = st.just("start")
    event = st.one_of(start, start, start, st.sampled_from(["START", "Start", ""]), json_values(2))
    return st.builds(
        lambda e, m, params, extra, wire: {**extra, **wire.frame(e, {"metadata": m, **params})},
        event,
        metadata(targets),
        st.one_of(st.just({}), st.builds(lambda p: {"streamParams": p}, json_values(3))),
        st.dictionaries(st.text(max_size=8), json_values(2), max_size=2),
        _profiles(),
    )


def start_frames(targets: Targets) -> st.SearchStrategy[dict[str, Any]]:
    """``start`` frames: two thirds well-formed with forged ids, a third mangled."""
    forged = forged_starts(targets)
    return st.one_of(forged, forged, mangled_starts(targets))


def media_frames() -> st.SearchStrategy[dict[str, Any]]:
    """``media`` frames, well-formed or not."""
    good = st.just(media_sample())
    mangled = st.fixed_dictionaries(
        {"eventType": st.just("media")},
        optional={
            "track": st.one_of(st.sampled_from(["inbound", "outbound"]), nasty_text()),
            "sequenceNumber": st.one_of(st.integers(), nasty_text()),
            "payload": st.one_of(st.just("!!not base64!!"), st.just(""), json_values(2)),
        },
    )
    return st.one_of(good, good, mangled)


def _garbage() -> st.SearchStrategy[Frame]:
    return st.one_of(
        st.just("not json"),
        st.just("[]"),
        st.just("null"),
        st.text(_TEXT_CHARS, max_size=30),
        st.binary(max_size=64),
        st.builds(json.dumps, json_values(4)),
    )


def frame_sequences(targets: Targets) -> st.SearchStrategy[list[Frame]]:
    """What the socket gets after opening: one of the shapes, then a few media frames."""
    start = start_frames(targets)
    media = media_frames()
    stop: st.SearchStrategy[Frame] = st.just(stop_event({}))
    shapes: st.SearchStrategy[list[Frame]] = st.one_of(
        st.tuples(start).map(list),
        st.tuples(start).map(list),
        st.tuples(start, start).map(list),  # a duplicate start
        st.tuples(start, start).map(list),
        st.tuples(media, start).map(list),  # media before start
        st.tuples(stop, start).map(list),
        st.lists(st.one_of(start, media, stop, _garbage()), min_size=1, max_size=5),
    )
    return st.builds(lambda s, n: s + [media_sample() for _ in range(n)], shapes, st.integers(0, 5))


def media_sample() -> dict[str, Any]:
    """One well-formed ``media`` frame of μ-law silence."""
    return media_event(SILENT_FRAME, 1)


def endings() -> st.SearchStrategy[Ending]:
    """How the example's connection ends: ``stop`` then close, a bare close, or a drop."""
    return st.sampled_from(["stop", "close", "drop"])


def _start(
    account: Any, call: Any, stream: str = "s-00000000-fuzz", wire: WireProfile | None = None
) -> dict[str, Any]:
    """A ``start`` frame from the media protocol's builder; the ids may be anything."""
    config = StreamConfig(account, call, stream, "bot")
    return start_event(config if wire is None else replace(config, wire=wire))


def pinned_examples(targets: Targets) -> list[tuple[list[Frame], Ending]]:
    """Shapes every fuzz run sends first (hypothesis ``@example``)."""
    own = _start(targets.own_account, targets.own_call, "s-00000001-fuzz")
    victim = _start(targets.victim_account, targets.victim_call, "s-00000002-fuzz")
    metachar = _start(
        f"{targets.victim_account}/../{targets.victim_account}",
        f"{targets.victim_call}?x=#",
        "s-00000003-fuzz",
    )
    # Its own call id under another account: a bot that takes only accountId from start
    # hangs up /accounts/OTHER/calls/OWN when the stream drops (random ids rarely hit it).
    own_call_elsewhere = _start(targets.other_account, targets.own_call, "s-00000004-fuzz")
    silence = [media_sample() for _ in range(3)]
    # The plainest malformed starts, sent every run so that a bot crashing on them is
    # found by every audit, not only by a seed that happens to generate them.
    null_metadata = {**own, "metadata": None}
    no_metadata = {k: v for k, v in own.items() if k != "metadata"}
    return [
        ([own, victim, *silence], "stop"),  # a duplicate start naming the victim
        ([media_sample(), victim, *silence], "close"),  # media before a forged start
        ([metachar, *silence], "drop"),
        ([null_metadata, *silence], "stop"),
        ([no_metadata, *silence], "stop"),
        ([own_call_elsewhere, *silence], "drop"),
    ]


def encode(frame: Frame) -> str | bytes:
    """The frame as sent on the socket."""
    if isinstance(frame, dict):
        return json.dumps(frame, ensure_ascii=False)
    return frame


def about_trusted_call(account_id: str | None, call_id: str | None, targets: Targets) -> bool:
    """Whether a Voice API request is about the socket's own call: both ids must be its own.

    A request naming the own call under another account (``/accounts/OTHER/calls/OWN``)
    is the spoof as surely as one naming a victim call: it went where the forged
    ``accountId`` sent it, whatever the fake answered.
    """
    return account_id == targets.own_account and call_id == targets.own_call


_ENDING_ACTIONS: Final[dict[str, dict[str, Any]]] = {
    "stop": {"hangup": True},  # Bandwidth sends stop and closes when the caller hangs up
    "close": {"drop": True},  # no bare-close action: the nearest is a lost connection
    "drop": {"drop": True},
}


def _templated(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for real, template in names.items():
            value = value.replace(real, template)
        return value
    if isinstance(value, list):
        return [_templated(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _templated(v, names) for k, v in value.items()}
    return value


def replay_scenario(
    frames: Iterable[Frame], ending: Ending, targets: Targets, *, name: str, description: str
) -> tuple[dict[str, Any], list[str]]:
    """A bwsim scenario (as a YAML-ready dict) that replays an example, and what it changes.

    The scenario format sends one well-formed ``start`` frame whose ``metadata`` keys a
    scenario may replace (``call.start_metadata``), with the ids of a live ``victim``
    call as ``${victim.callId}``/``${victim.accountId}``. The example's first ``start``
    frame's metadata becomes that override; the victim is the one its ids name (another
    account's when it names that one). What the format cannot send (frames before or
    after that ``start``, a mangled envelope, a bare close) is listed in the second value,
    so the scenario's description says how near the replay is.
    """
    frames = list(frames)
    notes: list[str] = []
    start = next((f for f in frames if isinstance(f, dict) and f.get("eventType") == "start"), None)
    meta = start.get("metadata") if start is not None else None
    if start is None or not isinstance(meta, dict):
        notes.append("the example has no start frame with a metadata object")
        meta = {}
    other = json.dumps(meta, ensure_ascii=False, default=str)
    uses_other = targets.other_call in other or targets.other_account in other
    victim_call = targets.other_call if uses_other else targets.victim_call
    victim_account = targets.other_account if uses_other else targets.victim_account
    names = {victim_call: "${victim.callId}"}
    if uses_other:
        names[victim_account] = "${victim.accountId}"
    override = {
        k: _templated(v, names)
        for k, v in meta.items()
        if not (k == "callId" and v == targets.own_call)
    }
    if any(targets.own_call in json.dumps(v, default=str) for v in override.values()):
        notes.append("an id built from the socket's own call id is sent as the generated text")
    extra = [f for f in frames if f is not start and not _is_media(f)]
    if extra:
        notes.append(f"{len(extra)} frame(s) besides the start frame and media are not sent")
    if frames and frames[0] is not start and start is not None:
        notes.append("frames the example sent before its start frame are not sent")
    if start is not None and set(start) - {"eventType", "metadata", "sequenceNumber"}:
        notes.append("the start frame's other top-level keys are not sent")
    if ending == "close":
        notes.append("the bare close (no stop) is replayed as a lost connection")
    call: dict[str, Any] = {"start_metadata": override} if override else {}
    wire = wire_of(start) if start is not None else None
    if wire is not None and wire != DEFAULT_WIRE:
        call["wire"] = wire  # the replay sends its start in the same form
    scenario: dict[str, Any] = {
        "name": name,
        "description": description + (" Not replayed: " + "; ".join(notes) if notes else ""),
        "victim": "other_account" if uses_other else "same_account",
        "call": call,
        "caller": [{"silence": 1000}, _ENDING_ACTIONS[ending]],
        "expect": [
            {"api_response": {"call": "victim", "absent": True}},
            {"call_state": {"call": "victim", "state": "answered"}},
            {"api_response": {"status": 403, "absent": True}},
            {"api_response": {"status": 404, "absent": True}},
            {"ws_closed": {"by": "bot", "code": 1011, "absent": True}},
        ],
    }
    if not call:
        del scenario["call"]
    return scenario, notes


def _is_media(frame: Frame) -> bool:
    return frame == media_sample()
