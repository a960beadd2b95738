"""Reading scenario YAML with line numbers, and checking its values.

:class:`LineMap` and :class:`LineSeq` are what :class:`LineLoader` (safe YAML that
refuses duplicate keys) builds, so every fault can name its line. :class:`Problem` is a
fault found while checking, before the file's path is attached; the ``check_*`` helpers
raise it for a value of the wrong type or an unknown name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from simulator.judge.scenario_model import EVENTS, VERB_AUDIO_CHOICES, Anchor
from simulator.judge.templates import TEMPLATE, TEMPLATE_NAMES
from simulator.protocol.gather import check_digits

__all__ = [
    "LineLoader",
    "LineMap",
    "LineSeq",
    "Problem",
    "check_anchor",
    "check_bool",
    "check_dtmf",
    "check_dtmf_value",
    "check_event",
    "check_integer",
    "check_number",
    "check_string",
    "check_templates",
    "line_of",
    "merged",
    "refuse_unknown",
    "split_kind",
]


# -- YAML with line numbers --------------------------------------------------------------


class LineMap(dict[str, Any]):
    """A mapping from YAML that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class LineSeq(list[Any]):
    """A sequence from YAML that remembers the line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class LineLoader(yaml.SafeLoader):
    """Safe YAML that builds :class:`LineMap`/:class:`LineSeq` and refuses duplicate keys."""


def _construct_map(loader: LineLoader, node: yaml.MappingNode) -> LineMap:
    loader.flatten_mapping(node)
    out = LineMap()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            why = f"keys must be strings, got {key!r}"
            if isinstance(key, bool) or key is None:  # YAML 1.1 reads on/off/yes/no so
                why += " (YAML reads an unquoted on, off, yes, no or null so: quote the key)"
            raise Problem(why, line)
        if key in out:
            raise Problem(f"duplicate key {key!r} (first at line {out.key_lines[key]})", line, key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _construct_seq(loader: LineLoader, node: yaml.SequenceNode) -> LineSeq:
    out = LineSeq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


class Problem(Exception):
    """A fault found while checking, before the file's path is attached."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.key = key


def line_of(value: Any, key: str | None = None, default: int | None = None) -> int | None:
    """The line of ``value`` (or of its ``key``) in the file; ``default`` if not known."""
    if isinstance(value, LineMap):
        return value.key_lines.get(key, value.line) if key is not None else value.line
    if isinstance(value, LineSeq):
        return value.line
    return default


def refuse_unknown(keys: Iterable[str], known: Iterable[str], where: LineMap, path: str) -> None:
    """Raise :class:`Problem` for the first key not in ``known``, with a close match."""
    known = sorted(known)
    for key in keys:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        line = where.key_lines.get(key, where.line)
        raise Problem(f"unknown key {key!r} in {path}; {hint}known keys: {known}", line, key)


def merged(defaults: LineMap, raw: LineMap) -> LineMap:
    """``raw``'s keys over ``defaults``, mappings merged key by key (a scenario over its file)."""
    out = LineMap()
    out.line, out.key_lines = raw.line, {}
    for source in (defaults, raw):
        for key, value in source.items():
            if key in out and isinstance(out[key], LineMap) and isinstance(value, LineMap):
                both = LineMap({**out[key], **value})
                both.line = value.line
                both.key_lines = {**out[key].key_lines, **value.key_lines}
                out[key] = both
            else:
                out[key] = value
            out.key_lines[key] = source.key_lines.get(key, source.line)
    return out


def split_kind(item: Any, line: int, known: Mapping[str, frozenset[str]], what: str) -> str:
    """The one key of ``item`` that names its kind."""
    if isinstance(item, str) and item in known:
        return item
    if not isinstance(item, LineMap):
        raise Problem(f"each {what} must be a mapping such as {{{next(iter(known))}: …}}", line)
    kinds = [k for k in item if k in known]
    if len(kinds) != 1:
        others = [k for k in item if k not in known]
        if not kinds and others:
            close = difflib.get_close_matches(others[0], list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise Problem(
                f"unknown {what} {others[0]!r}{hint} known: {sorted(known)}",
                item.key_lines.get(others[0], line),
                others[0],
            )
        raise Problem(f"each {what} names exactly one of {sorted(known)}; got {kinds}", line)
    return kinds[0]


# -- checking values ---------------------------------------------------------------------


def check_number(value: Any, what: str, line: int | None, key: str, *, minimum: float = 0) -> float:
    """Return ``value`` as a float if it is a number at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise Problem(f"{what} must be a number ≥ {minimum:g}, got {value!r}", line, key)
    return float(value)


def check_integer(value: Any, what: str, line: int | None, key: str, *, minimum: int = 0) -> int:
    """Return ``value`` if it is a whole number at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Problem(f"{what} must be a whole number ≥ {minimum}, got {value!r}", line, key)
    return value


def check_string(value: Any, what: str, line: int | None, key: str) -> str:
    """Return ``value`` if it is a string that is not blank."""
    if not isinstance(value, str) or not value.strip():
        raise Problem(f"{what} must be a non-empty string, got {value!r}", line, key)
    return value


def check_bool(value: Any, what: str, line: int | None, key: str) -> bool:
    """Return ``value`` if it is true or false."""
    if not isinstance(value, bool):
        raise Problem(f"{what} must be true or false, got {value!r}", line, key)
    return value


def check_event(value: Any, what: str, line: int | None, key: str) -> str:
    """Return ``value`` if it names an event of :data:`EVENTS`."""
    if not isinstance(value, str) or value not in EVENTS:
        close = difflib.get_close_matches(str(value), list(EVENTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise Problem(
            f"{what} must be an event name{hint}; known: {sorted(EVENTS)}, got {value!r}",
            line,
            key,
        )
    return str(value)


def check_anchor(value: Any, line: int | None, key: str) -> Anchor:
    """Turn ``EVENT``, ``EVENT#N`` or ``{event: EVENT, delay_ms: MS}`` into an :class:`Anchor`.

    The mapping is the form ``send_after`` takes too: the point ``delay_ms`` after the event.
    """
    delay = 0.0
    if isinstance(value, LineMap):
        known = {"event", "delay_ms"}
        refuse_unknown((k for k in value if k not in known), known, value, key)
        if "event" not in value:
            raise Problem(f"{key} takes EVENT or {{event: EVENT, delay_ms: MS}}", line, key)
        if "delay_ms" in value:
            where = value.key_lines["delay_ms"]
            delay = check_number(value["delay_ms"], f"{key}.delay_ms", where, "delay_ms")
        line, value = value.key_lines["event"], value["event"]
    text = str(value)
    name, _, nth = text.partition("#")
    check_event(name, "after", line, key)
    if nth and not nth.isdigit():
        raise Problem(f"after takes EVENT or EVENT#N (N ≥ 1), got {value!r}", line, key)
    number = int(nth) if nth else 1
    if number < 1:
        raise Problem(f"after takes EVENT#N with N ≥ 1, got {value!r}", line, key)
    return Anchor(EVENTS[name], number, name, delay)


def check_templates(value: Any, line: int | None, key: str) -> None:
    """Refuse ``${…}`` names the runner cannot fill."""
    if isinstance(value, str):
        for name in TEMPLATE.findall(value):
            if name not in TEMPLATE_NAMES:
                raise Problem(
                    f"unknown template ${{{name}}}; known: {sorted(TEMPLATE_NAMES)}", line, key
                )
    elif isinstance(value, Mapping):
        for v in value.values():
            check_templates(v, line, key)
    elif isinstance(value, list):
        for v in value:
            check_templates(v, line, key)


def _check_verb_audio_value(key: str, value: Any, line: int | None) -> Any:
    """Check ``verb_audio``'s ``verb``, ``sound`` (one of their choices) or ``interrupted``."""
    if key == "interrupted":
        return check_bool(value, "verb_audio.interrupted", line, key)
    choices = VERB_AUDIO_CHOICES[key]
    if value not in choices:
        raise Problem(f"verb_audio.{key} must be one of {list(choices)}, got {value!r}", line, key)
    return value


_REASONS = ("terminating-digit", "max-digits", "inter-digit-timeout", "first-digit-timeout")
_DTMF_KEYS = frozenset({"digits", "gap_ms"})


def check_dtmf(value: Any, line: int | None) -> tuple[str, float | None]:
    """The keys and the gap (None: the default) of ``dtmf: "12#"`` or ``{digits:, gap_ms:}``."""
    gap = None
    if isinstance(value, LineMap):
        refuse_unknown((k for k in value if k not in _DTMF_KEYS), _DTMF_KEYS, value, "dtmf")
        if "gap_ms" in value:
            gap = check_number(value["gap_ms"], "dtmf.gap_ms", value.key_lines["gap_ms"], "gap_ms")
        line = value.key_lines.get("digits", value.line)
        value = value.get("digits")
    if not isinstance(value, str):
        raise Problem(
            'dtmf takes the keys as a quoted string such as "1234#" (YAML reads 1234 as a '
            f'number and drops what follows an unquoted " #"), got {value!r}',
            line,
            "dtmf",
        )
    try:
        return check_digits(value), gap
    except ValueError as exc:
        raise Problem(str(exc), line, "dtmf") from None


def check_dtmf_value(kind: str, key: str, value: Any, line: int | None) -> Any:
    """Check a ``digits``, ``digit``, ``terminating_digit`` or ``reason`` of an expectation.

    ``terminating_digit: ""`` is allowed: it is what Bandwidth sends when no terminating
    digit ended the gather. The values of ``verb_audio`` are checked here too.
    """
    if kind == "verb_audio":
        return _check_verb_audio_value(key, value, line)
    if not isinstance(value, str):
        raise Problem(
            f'{kind}.{key} must be a quoted string such as "1234", got {value!r}', line, key
        )
    if key == "reason" and value not in _REASONS:
        raise Problem(f"{kind}.reason must be one of {list(_REASONS)}, got {value!r}", line, key)
    if key in ("digits", "terminating_digit", "digit") and value:
        try:
            check_digits(value)
        except ValueError as exc:
            raise Problem(f"{kind}.{key}: {exc}", line, key) from None
    if key in ("terminating_digit", "digit") and len(value) > 1:
        raise Problem(f"{kind}.{key} is one key, got {value!r}", line, key)
    return value
