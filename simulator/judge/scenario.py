"""Scenario files: YAML that describes calls, what the caller does and what must be seen.

Sans-I/O apart from reading the files: :func:`load_scenarios` turns YAML into checked
:class:`Scenario` records, or raises :class:`~simulator.errors.ScenarioError` naming the
file, the line and the key at fault. Nothing is run here (:mod:`simulator.runner.suite` runs
them; :mod:`simulator.judge.expect` judges them).

The format follows Pipecat's own evals: a file holds ``scenarios:``, a list of mappings
each with a ``name``; any other key at the top of the file is a default for every
scenario in it (mappings such as ``call`` and ``bot_env`` are merged key by key, lists
such as ``caller`` and ``expect`` are replaced). A scenario::

    - name: barge-in
      description: Talking over the greeting makes the bot clear its audio.
      caller:
        - say: monologue.wav            # audio file, relative to audio_dir
          send_after: bot_speech_start  # act 300 ms after the bot starts speaking
          delay_ms: 300
      expect:
        - clear: {after: caller_audio_start, within_ms: 1500, bot_was_speaking: true}
        - violation: {absent: true}

Every key is listed in :data:`SCENARIO_KEYS`, :data:`CALL_KEYS`, :data:`ACTIONS` and
:data:`EXPECTATIONS`; an unknown one is an error with the closest known name suggested,
because a typo that is silently ignored makes a test that cannot fail.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.call.audio_files import load_caller_audio
from simulator.call.defaults import DEFAULT_MAX_CALL_S
from simulator.errors import AudioFileError, ScenarioError
from simulator.judge.templates import TEMPLATE, TEMPLATE_NAMES
from simulator.protocol.codec import Pcm
from simulator.protocol.webhook_auth import AUTH_MODES

__all__ = [
    "ACTIONS",
    "CALL_KEYS",
    "EVENTS",
    "EXPECTATIONS",
    "SCENARIO_KEYS",
    "Action",
    "Anchor",
    "CallSpec",
    "Expectation",
    "Scenario",
    "load_scenarios",
    "parse_expectations",
    "parse_scenarios",
]

EVENTS: Mapping[str, str] = {
    "call_start": "call-start",
    "webhook_answered": "webhook-answered",
    "call_answered": "call-answered",
    "stream_accepted": "stream-accepted",
    "stream_refused": "stream-refused",
    "caller_audio_start": "caller-audio-start",
    "caller_audio_end": "caller-audio-end",
    "bot_audio_first": "bot-audio-first",
    "bot_speech_start": "bot-speech-start",
    "bot_speech_end": "bot-speech-end",
    "clear": "clear",
    "api_request": "api-request",
    "hangup_request": "hangup-request",
    "transfer": "transfer",
    "stop_sent": "stop-sent",
    "ws_closed": "ws-closed",
    "call_ended": "call-ended",
}
"""Event names a scenario may wait for or anchor on, and the timeline kind of each.
``call_start`` is time zero (the ``initiate`` webhook going out)."""

SCENARIO_KEYS = frozenset(
    {
        "name",
        "description",
        "audio_dir",
        "bot_env",
        "call",
        "victim",
        "caller",
        "expect",
        "ordered",
        "allow_violations",
    }
)
CALL_KEYS = frozenset(
    {
        "auth",
        "from",
        "to",
        "webhook_path",
        "body",
        "raw_body",
        "start_metadata",
        "stream_delay_ms",
        "max_call_s",
        "orphan_grace_s",
        "sequence_start",
    }
)
VICTIMS = ("same_account", "other_account")
"""A second live call a spoofing scenario forges ids of: in this call's account or another."""

_ACTION_COMMON = frozenset({"send_after", "delay_ms", "within_ms"})
ACTIONS: Mapping[str, frozenset[str]] = {
    "say": frozenset({"text", "wait"}),
    "silence": frozenset(),
    "wait_for": frozenset(),
    "stay": frozenset(),
    "hangup": frozenset(),
    "drop": frozenset(),
    "replay_stream": frozenset(),
}
"""Caller actions, each with the keys it takes besides ``send_after``/``delay_ms``/``within_ms``.

- ``say: FILE`` speak an audio file (``text``: what it says, for a bot's scripted STT;
  else looked up in ``transcripts.yaml`` beside the file); ``wait: false`` goes on at once.
- ``silence: MS`` stay on the line, silent; the call ending meanwhile is fine.
- ``wait_for: EVENT`` wait for an event after the previous action (``within_ms``).
- ``stay: MS`` stay on the line until the call ends, at most ``MS``.
- ``hangup: true`` hang up (``stop``, close 1000). ``drop: true`` the connection dies.
- ``replay_stream: true`` open a second socket with this call's stream URL (token reuse).
"""

_EXPECT_COMMON = frozenset({"absent", "within_ms", "after", "count", "min_count", "max_count"})
EXPECTATIONS: Mapping[str, frozenset[str]] = {
    "webhook_response": frozenset(
        {"status", "statuses", "delivered", "www_authenticate", "start_stream", "keeps_call_up"}
    ),
    "stream_accepted": frozenset({"stream"}),
    "stream_refused": frozenset({"stream"}),
    "ws_closed": frozenset({"stream", "code", "by"}),
    "play_audio": frozenset({"encoding", "min_audio_ms"}),
    "clear": frozenset({"bot_was_speaking"}),
    "hangup_request": frozenset({"status", "call"}),
    "transfer_request": frozenset({"status", "call", "target"}),
    "api_response": frozenset({"route", "method", "status", "call"}),
    "violation": frozenset({"rule"}),
    "orphaned_leg": frozenset(),
    "call_state": frozenset({"call", "state", "cause"}),
}
"""What a scenario can expect, each with the keys it takes besides the common ones:
``absent`` (must not happen), ``within_ms`` (from ``after``, default the call's start),
``after`` (an event name, ``name#N`` for the N-th), ``count``/``min_count``/``max_count``."""

ENCODINGS: Mapping[str, str] = {
    "pcmu": "audio/pcmu",
    "pcm8k": "audio/pcm;rate=8000;channels=1;bit-depth=16;endian=little;encoding=signed",
    "pcm16k": "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed",
    "pcm24k": "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed",
}
"""Short names for ``play_audio.encoding``; a full content type is accepted too."""

CALL_TARGETS = ("this", "victim")
CLOSERS = ("simulator", "bot", "dropped")
_UNTIMED = frozenset({"webhook_response", "call_state"})
"""Kinds judged once, on the whole call: the timing and counting keys do not apply."""


# -- YAML with line numbers --------------------------------------------------------------


class _Map(dict[str, Any]):
    """A mapping from YAML that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class _Seq(list[Any]):
    """A sequence from YAML that remembers the line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """Safe YAML that builds :class:`_Map`/:class:`_Seq` and refuses duplicate keys."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _Problem(f"keys must be strings, got {key!r}", line)
        if key in out:
            raise _Problem(f"duplicate key {key!r} (first at line {out.key_lines[key]})", line, key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


class _Problem(Exception):
    """A fault found while checking, before the file's path is attached."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.key = key


def _line_of(value: Any, key: str | None = None, default: int | None = None) -> int | None:
    if isinstance(value, _Map):
        return value.key_lines.get(key, value.line) if key is not None else value.line
    if isinstance(value, _Seq):
        return value.line
    return default


def _unknown(keys: Iterable[str], known: Iterable[str], where: _Map, path: str) -> None:
    known = sorted(known)
    for key in keys:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        line = where.key_lines.get(key, where.line)
        raise _Problem(f"unknown key {key!r} in {path}; {hint}known keys: {known}", line, key)


# -- the records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A point on a call's timeline: the ``nth`` event of ``kind`` (``call-start`` is 0)."""

    kind: str
    nth: int = 1
    name: str = "call_start"

    def describe(self) -> str:
        """As written in the scenario (``bot_speech_start#2``)."""
        return self.name if self.nth == 1 else f"{self.name}#{self.nth}"


CALL_START = Anchor("call-start")


@dataclass(frozen=True)
class Action:
    """One thing the caller does (see :data:`ACTIONS`)."""

    kind: str
    line: int
    audio: Path | None = None
    samples: Pcm | None = field(default=None, repr=False, compare=False)
    text: str | None = None
    wait: bool = True
    ms: float = 0.0
    event: str | None = None
    send_after: str | None = None
    delay_ms: float = 0.0
    within_ms: float = 15_000.0

    def describe(self) -> str:
        """A short label for reports (``say person.wav``)."""
        if self.kind == "say" and self.audio is not None:
            return f"say {self.audio.name}"
        if self.kind in ("silence", "stay"):
            return f"{self.kind} {self.ms:g} ms"
        if self.kind == "wait_for":
            return f"wait_for {self.event}"
        return self.kind


@dataclass(frozen=True)
class Expectation:
    """One thing that must (or, with ``absent``, must not) be seen on the wire."""

    kind: str
    line: int
    absent: bool = False
    within_ms: float | None = None
    after: Anchor = CALL_START
    count: int | None = None
    min_count: int | None = None
    max_count: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The expectation in one line, as a person would write it."""
        parts = [f"{k}={v}" for k, v in self.params.items()]
        if self.after != CALL_START:
            parts.append(f"after {self.after.describe()}")
        if self.within_ms is not None:
            parts.append(f"within {self.within_ms:g} ms")
        if self.count is not None:
            parts.append(f"count={self.count}")
        if self.min_count is not None:
            parts.append(f"min_count={self.min_count}")
        if self.max_count is not None:
            parts.append(f"max_count={self.max_count}")
        text = self.kind + (f" ({', '.join(parts)})" if parts else "")
        return f"no {text}" if self.absent else text


@dataclass(frozen=True)
class CallSpec:
    """How Bandwidth places the call (see :data:`CALL_KEYS`)."""

    auth: str = "challenge"
    from_: str = "+15555550100"
    to: str = "+15555550199"
    webhook_path: str = "/"
    body: Mapping[str, Any] | None = None
    raw_body: str | None = None
    start_metadata: Mapping[str, Any] | None = None
    stream_delay_ms: float = 0.0
    max_call_s: float = DEFAULT_MAX_CALL_S
    orphan_grace_s: float = 5.0
    sequence_start: int = 1


@dataclass(frozen=True)
class Scenario:
    """One call, its caller's actions and what must be seen."""

    id: str
    name: str
    path: Path
    line: int
    description: str = ""
    bot_env: tuple[tuple[str, str], ...] = ()
    call: CallSpec = field(default_factory=CallSpec)
    victim: str | None = None
    caller: tuple[Action, ...] = ()
    expect: tuple[Expectation, ...] = ()
    ordered: bool = False
    allow_violations: tuple[str, ...] = ()

    @property
    def caller_lines(self) -> list[str]:
        """What the caller says, as text, in order (for a bot's scripted STT)."""
        return [a.text for a in self.caller if a.kind == "say" and a.text]

    @property
    def where(self) -> str:
        """``file:line`` of the scenario."""
        return f"{self.path}:{self.line}"


# -- checking values ---------------------------------------------------------------------


def _number(value: Any, what: str, line: int | None, key: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _Problem(f"{what} must be a number ≥ {minimum:g}, got {value!r}", line, key)
    return float(value)


def _integer(value: Any, what: str, line: int | None, key: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Problem(f"{what} must be a whole number ≥ {minimum}, got {value!r}", line, key)
    return value


def _string(value: Any, what: str, line: int | None, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"{what} must be a non-empty string, got {value!r}", line, key)
    return value


def _bool(value: Any, what: str, line: int | None, key: str) -> bool:
    if not isinstance(value, bool):
        raise _Problem(f"{what} must be true or false, got {value!r}", line, key)
    return value


def _event(value: Any, what: str, line: int | None, key: str) -> str:
    if value not in EVENTS:
        close = difflib.get_close_matches(str(value), list(EVENTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _Problem(
            f"{what} must be an event name{hint}; known: {sorted(EVENTS)}, got {value!r}",
            line,
            key,
        )
    return str(value)


def _anchor(value: Any, line: int | None, key: str) -> Anchor:
    text = str(value)
    name, _, nth = text.partition("#")
    _event(name, "after", line, key)
    if nth and not nth.isdigit():
        raise _Problem(f"after takes EVENT or EVENT#N (N ≥ 1), got {value!r}", line, key)
    number = int(nth) if nth else 1
    if number < 1:
        raise _Problem(f"after takes EVENT#N with N ≥ 1, got {value!r}", line, key)
    return Anchor(EVENTS[name], number, name)


def _templates(value: Any, line: int | None, key: str) -> None:
    """Refuse ``${…}`` names the runner cannot fill."""
    if isinstance(value, str):
        for name in TEMPLATE.findall(value):
            if name not in TEMPLATE_NAMES:
                raise _Problem(
                    f"unknown template ${{{name}}}; known: {sorted(TEMPLATE_NAMES)}", line, key
                )
    elif isinstance(value, Mapping):
        for v in value.values():
            _templates(v, line, key)
    elif isinstance(value, list):
        for v in value:
            _templates(v, line, key)


# -- scenario parts ----------------------------------------------------------------------


def _parse_call(raw: Any, line: int | None) -> CallSpec:
    if raw is None:
        return CallSpec()
    if not isinstance(raw, _Map):
        raise _Problem(f"call must be a mapping of {sorted(CALL_KEYS)}", line, "call")
    _unknown((k for k in raw if k not in CALL_KEYS), CALL_KEYS, raw, "call")

    def at(key: str) -> int | None:
        return raw.key_lines.get(key, raw.line)

    auth = raw.get("auth", "challenge")
    if auth not in AUTH_MODES:
        raise _Problem(f"call.auth must be one of {list(AUTH_MODES)}, got {auth!r}", at("auth"))
    for key in ("body", "start_metadata"):
        value = raw.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise _Problem(f"call.{key} must be a mapping of fields to replace", at(key), key)
        _templates(value, at(key), key)
    raw_body = raw.get("raw_body")
    if raw_body is not None and not isinstance(raw_body, str):
        raise _Problem("call.raw_body must be a string (sent as it is)", at("raw_body"))
    if raw_body is not None and raw.get("body") is not None:
        raise _Problem("give call.body or call.raw_body, not both", at("raw_body"), "raw_body")
    path = raw.get("webhook_path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _Problem(f"call.webhook_path must start with '/', got {path!r}", at("webhook_path"))
    return CallSpec(
        auth=str(auth),
        from_=str(raw.get("from", CallSpec.from_)),
        to=str(raw.get("to", CallSpec.to)),
        webhook_path=path,
        body=dict(raw["body"]) if raw.get("body") is not None else None,
        raw_body=raw_body,
        start_metadata=dict(raw["start_metadata"]) if raw.get("start_metadata") else None,
        stream_delay_ms=_number(
            raw.get("stream_delay_ms", 0), "call.stream_delay_ms", at("stream_delay_ms"), "call"
        ),
        max_call_s=_number(
            raw.get("max_call_s", CallSpec.max_call_s), "call.max_call_s", at("max_call_s"), "call"
        ),
        orphan_grace_s=_number(
            raw.get("orphan_grace_s", CallSpec.orphan_grace_s),
            "call.orphan_grace_s",
            at("orphan_grace_s"),
            "call",
        ),
        sequence_start=_integer(
            raw.get("sequence_start", 1), "call.sequence_start", at("sequence_start"), "call"
        ),
    )


def _split_kind(item: Any, line: int, known: Mapping[str, frozenset[str]], what: str) -> str:
    """The one key of ``item`` that names its kind."""
    if isinstance(item, str) and item in known:
        return item
    if not isinstance(item, _Map):
        raise _Problem(f"each {what} must be a mapping such as {{{next(iter(known))}: …}}", line)
    kinds = [k for k in item if k in known]
    if len(kinds) != 1:
        others = [k for k in item if k not in known]
        if not kinds and others:
            close = difflib.get_close_matches(others[0], list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _Problem(
                f"unknown {what} {others[0]!r}{hint} known: {sorted(known)}",
                item.key_lines.get(others[0], line),
                others[0],
            )
        raise _Problem(f"each {what} names exactly one of {sorted(known)}; got {kinds}", line)
    return kinds[0]


Loader = Callable[[Path, int | None], Pcm]


def _transcript(audio: Path) -> str | None:
    """What ``audio`` says, from ``transcripts.yaml`` beside it (if there is one)."""
    index = audio.parent / "transcripts.yaml"
    if not index.is_file():
        return None
    try:
        data = yaml.safe_load(index.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    text = data.get(audio.name) if isinstance(data, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def _parse_action(item: Any, line: int, audio_dir: Path, load_audio: Loader) -> Action:
    kind = _split_kind(item, line, ACTIONS, "caller action")
    raw: _Map = item if isinstance(item, _Map) else _Map({kind: True})
    if not isinstance(item, _Map):
        raw.line, raw.key_lines = line, {kind: line}
    allowed = ACTIONS[kind] | _ACTION_COMMON | {kind}
    _unknown((k for k in raw if k not in allowed), allowed, raw, f"caller action {kind!r}")

    def at(key: str) -> int:
        return raw.key_lines.get(key, line)

    value = raw[kind]
    common: dict[str, Any] = {
        "send_after": _event(raw["send_after"], "send_after", at("send_after"), "send_after")
        if "send_after" in raw
        else None,
        "delay_ms": _number(raw.get("delay_ms", 0), "delay_ms", at("delay_ms"), "delay_ms"),
        "within_ms": _number(
            raw.get("within_ms", Action.within_ms), "within_ms", at("within_ms"), "within_ms"
        ),
    }
    if kind == "say":
        name = _string(value, "say", at("say"), "say")
        audio = (audio_dir / name).resolve() if not Path(name).is_absolute() else Path(name)
        samples = load_audio(audio, at("say"))
        text = raw.get("text")
        if text is not None:
            text = _string(text, "say.text", at("text"), "text")
        return Action(
            "say",
            line,
            audio=audio,
            samples=samples,
            text=text or _transcript(audio),
            wait=_bool(raw.get("wait", True), "wait", at("wait"), "wait"),
            **common,
        )
    if kind in ("silence", "stay"):
        return Action(kind, line, ms=_number(value, kind, at(kind), kind), **common)
    if kind == "wait_for":
        return Action(kind, line, event=_event(value, "wait_for", at(kind), kind), **common)
    if value is not True:
        raise _Problem(f"{kind} takes true (as in `- {kind}: true`), got {value!r}", at(kind))
    return Action(kind, line, **common)


def _expect_value(kind: str, key: str, value: Any, line: int | None) -> Any:
    """Check one parameter of an expectation; returns the normalized value."""
    if key == "min_audio_ms":
        return _number(value, f"{kind}.{key}", line, key)
    if key in ("status", "code"):
        return _integer(value, f"{kind}.{key}", line, key, minimum=100)
    if key == "statuses":
        if not isinstance(value, list) or not value:
            raise _Problem(f"{kind}.statuses must be a list such as [401, 200]", line, key)
        return [_integer(v, f"{kind}.statuses", line, key, minimum=100) for v in value]
    if key in ("delivered", "keeps_call_up", "bot_was_speaking"):
        return _bool(value, f"{kind}.{key}", line, key)
    if key == "call":
        if value not in CALL_TARGETS:
            raise _Problem(f"{kind}.call must be one of {list(CALL_TARGETS)}", line, key)
        return value
    if key == "by":
        if value not in CLOSERS:
            raise _Problem(f"{kind}.by must be one of {list(CLOSERS)}, got {value!r}", line, key)
        return value
    if key == "encoding":
        text = _string(value, f"{kind}.encoding", line, key)
        if text not in ENCODINGS and not text.startswith("audio/"):
            raise _Problem(
                f"play_audio.encoding must be one of {sorted(ENCODINGS)} or a content type",
                line,
                key,
            )
        return ENCODINGS.get(text, text)
    if key == "start_stream":
        if not isinstance(value, Mapping) or set(value) - {"mode", "tracks"}:
            raise _Problem(f"{kind}.start_stream takes {{mode: …, tracks: …}}", line, key)
        return dict(value)
    text = _string(value, f"{kind}.{key}", line, key)
    _templates(text, line, key)
    return text


def _parse_expectation(item: Any, line: int) -> Expectation:
    kind = _split_kind(item, line, EXPECTATIONS, "expectation")
    body = item.get(kind) if isinstance(item, _Map) else None
    if isinstance(item, _Map) and len(item) > 1:
        extra = [k for k in item if k != kind]
        raise _Problem(
            f"put the options of {kind!r} under it ({kind}: {{…}}), not beside it",
            item.key_lines.get(extra[0], line),
            extra[0],
        )
    if body is None or body is True:
        body = _Map()
        body.line, body.key_lines = line, {}
    if not isinstance(body, _Map):
        raise _Problem(f"{kind} takes a mapping of options, got {body!r}", line, kind)
    allowed = EXPECTATIONS[kind] | (frozenset() if kind in _UNTIMED else _EXPECT_COMMON)
    _unknown((k for k in body if k not in allowed), allowed, body, f"expectation {kind!r}")

    def at(key: str) -> int:
        return body.key_lines.get(key, line)

    params = {
        k: _expect_value(kind, k, v, at(k)) for k, v in body.items() if k not in _EXPECT_COMMON
    }
    absent = _bool(body.get("absent", False), "absent", at("absent"), "absent")
    count = body.get("count")
    min_count = body.get("min_count")
    max_count = body.get("max_count")
    counts = [k for k in ("count", "min_count", "max_count") if body.get(k) is not None]
    if absent and counts:
        raise _Problem(f"absent: true cannot go with {counts[0]}", at("absent"), "absent")
    if count is not None and len(counts) > 1:
        raise _Problem("count cannot go with min_count or max_count", at("count"), "count")
    return Expectation(
        kind,
        line,
        absent=absent,
        within_ms=_number(body["within_ms"], "within_ms", at("within_ms"), "within_ms")
        if "within_ms" in body
        else None,
        after=_anchor(body["after"], at("after"), "after") if "after" in body else CALL_START,
        count=_integer(count, "count", at("count"), "count") if count is not None else None,
        min_count=_integer(min_count, "min_count", at("min_count"), "min_count", minimum=1)
        if min_count is not None
        else None,
        max_count=_integer(max_count, "max_count", at("max_count"), "max_count")
        if max_count is not None
        else None,
        params=params,
    )


def _items(raw: Any, key: str, line: int | None) -> list[tuple[Any, int]]:
    if raw is None:
        return []
    if not isinstance(raw, _Seq):
        raise _Problem(f"{key} must be a list", line, key)
    return list(zip(raw, raw.item_lines, strict=True))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "scenario"


def _merged(defaults: _Map, raw: _Map) -> _Map:
    """The scenario's keys over the file's defaults (mappings merged key by key)."""
    out = _Map()
    out.line, out.key_lines = raw.line, {}
    for source in (defaults, raw):
        for key, value in source.items():
            if key in out and isinstance(out[key], _Map) and isinstance(value, _Map):
                merged = _Map({**out[key], **value})
                merged.line = value.line
                merged.key_lines = {**out[key].key_lines, **value.key_lines}
                out[key] = merged
            else:
                out[key] = value
            out.key_lines[key] = source.key_lines.get(key, source.line)
    return out


def _parse_scenario(raw: _Map, path: Path, stem: str, load_audio: Loader) -> Scenario:
    _unknown((k for k in raw if k not in SCENARIO_KEYS), SCENARIO_KEYS, raw, "a scenario")

    def at(key: str) -> int:
        return raw.key_lines.get(key, raw.line)

    name = _string(raw.get("name"), "every scenario's name", at("name"), "name")
    audio_dir = path.parent
    if "audio_dir" in raw:
        folder = _string(raw["audio_dir"], "audio_dir", at("audio_dir"), "audio_dir")
        audio_dir = (path.parent / folder).resolve()
        if not audio_dir.is_dir():
            raise _Problem(f"audio_dir {str(audio_dir)!r} is not a folder", at("audio_dir"))
    env = raw.get("bot_env") or {}
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in env.items()
    ):
        raise _Problem("bot_env must map variable names to strings", at("bot_env"), "bot_env")
    victim = raw.get("victim")
    if victim is not None and victim not in VICTIMS:
        raise _Problem(f"victim must be one of {list(VICTIMS)}, got {victim!r}", at("victim"))
    allowed = raw.get("allow_violations") or []
    if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
        raise _Problem("allow_violations must be a list of rule names", at("allow_violations"))
    caller = tuple(
        _parse_action(item, line, audio_dir, load_audio)
        for item, line in _items(raw.get("caller"), "caller", at("caller"))
    )
    expect = tuple(
        _parse_expectation(item, line)
        for item, line in _items(raw.get("expect"), "expect", at("expect"))
    )
    if not expect:
        raise _Problem(
            "a scenario needs at least one expectation under expect:, or it can never fail",
            at("name"),
            "expect",
        )
    for e in expect:
        if e.params.get("call") == "victim" and victim is None:
            raise _Problem(f"{e.kind} names call: victim, but the scenario has no victim", e.line)
    return Scenario(
        id=f"{stem}/{_slug(name)}",
        name=name,
        path=path,
        line=raw.line,
        description=str(raw.get("description") or ""),
        bot_env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        call=_parse_call(raw.get("call"), at("call")),
        victim=victim,
        caller=caller,
        expect=expect,
        ordered=_bool(raw.get("ordered", False), "ordered", at("ordered"), "ordered"),
        allow_violations=tuple(allowed),
    )


def _audio_loader() -> Loader:
    cache: dict[Path, Pcm] = {}

    def load(path: Path, line: int | None) -> Pcm:
        if path not in cache:
            try:
                cache[path] = load_caller_audio(path)
            except AudioFileError as exc:
                raise _Problem(f"{exc.reason}: {path}", line, "say") from None
        return cache[path]

    return load


def _parse_file(text: str, path: Path, loader: Loader) -> list[Scenario]:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise _Problem(f"not valid YAML: {exc.problem}", mark.line + 1 if mark else None) from None
    if not isinstance(data, _Map) or "scenarios" not in data:
        raise _Problem("a scenario file is a mapping with a `scenarios:` list", 1, "scenarios")
    defaults = _Map({k: v for k, v in data.items() if k != "scenarios"})
    defaults.line = data.line
    defaults.key_lines = {k: v for k, v in data.key_lines.items() if k != "scenarios"}
    known = SCENARIO_KEYS - {"name"}
    _unknown((k for k in defaults if k not in known), known, defaults, "the file's defaults")
    items = _items(data["scenarios"], "scenarios", data.key_lines["scenarios"])
    if not items:
        raise _Problem("`scenarios:` is empty", data.key_lines["scenarios"], "scenarios")
    scenarios: list[Scenario] = []
    seen: dict[str, Scenario] = {}
    for item, line in items:
        if not isinstance(item, _Map):
            raise _Problem("each scenario must be a mapping with a name", line)
        s = _parse_scenario(_merged(defaults, item), path, path.stem, loader)
        if s.id in seen:
            raise _Problem(
                f"two scenarios are named {s.name!r} (the other at line {seen[s.id].line})",
                s.line,
                "name",
            )
        seen[s.id] = s
        scenarios.append(s)
    return scenarios


def parse_scenarios(text: str, path: Path, *, load_audio: Loader | None = None) -> list[Scenario]:
    """Check one scenario file's text; ``path`` names it in errors and anchors audio paths."""
    try:
        return _parse_file(text, path, load_audio or _audio_loader())
    except _Problem as p:
        raise ScenarioError(p.message, path=path, line=p.line, key=p.key) from None


def parse_expectations(items: Iterable[Any], *, where: str = "<expect>") -> tuple[Expectation, ...]:
    """Expectations given as Python values, checked exactly as in a scenario file.

    Items are as in ``expect:`` (``{"clear": {"within_ms": 1500}}`` or ``"clear"``);
    errors name ``where`` and the line of the item in the YAML the values make.
    """
    text = yaml.safe_dump(
        {"scenarios": [{"name": "inline", "expect": list(items)}]}, sort_keys=False
    )
    (scenario,) = parse_scenarios(text, Path(where), load_audio=lambda p, n: _no_audio())
    return scenario.expect


def _no_audio() -> Pcm:
    raise _Problem("expectations take no audio")


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ScenarioError("the folder holds no .yaml scenario files", path=p)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ScenarioError("no such file or folder", path=p)
    return out


def load_scenarios(paths: Iterable[Path | str]) -> list[Scenario]:
    """Read and check every scenario file in ``paths`` (files or folders of ``*.yaml``).

    All files are checked, and their audio read, before anything runs; the first fault
    raises :class:`ScenarioError` with file, line and key. Ids must be unique across files.
    """
    scenarios: list[Scenario] = []
    load_audio = _audio_loader()
    for path in _files(Path(p) for p in paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"cannot be read: {exc}", path=path) from None
        scenarios.extend(parse_scenarios(text, path, load_audio=load_audio))
    ids: dict[str, Scenario] = {}
    for s in scenarios:
        if s.id in ids:
            raise ScenarioError(
                f"scenario id {s.id!r} is also used at {ids[s.id].where}; rename one",
                path=s.path,
                line=s.line,
                key="name",
            )
        ids[s.id] = s
    return scenarios
