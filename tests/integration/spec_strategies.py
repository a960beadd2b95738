"""Hypothesis strategies built from the spec's request schemas, and ways to break them.

:func:`valid_value` draws a value a schema accepts (OpenAPI 3.0: ``nullable``,
``enum``, ``minimum``/``maximum``, ``maxLength``, ``format: uri`` and ``date-time``,
objects with their ``required`` keys); :func:`breakages` lists, for every property of
an object schema, the values the schema refuses (a wrong type, a string one character
over ``maxLength``, a number past its range, a value outside an ``enum``, a missing
required key), so a test can break one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["DROP", "Breakage", "breakages", "broken", "valid_value"]

Resolve = Callable[[Mapping[str, Any]], dict[str, Any]]

DROP = object()
"""A breakage value meaning: leave the required key out."""

_URLS = st.builds(
    "https://{}.example/{}".format,
    st.sampled_from(["bot", "hooks", "a-b"]),
    st.text(alphabet="abcxyz019-_/", max_size=12),
)
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


def valid_value(schema: Mapping[str, Any], resolve: Resolve, depth: int = 0) -> Any:
    """A strategy for values ``schema`` accepts."""
    node = resolve(schema)
    base = _non_null(node, resolve, depth)
    if node.get("nullable"):
        return st.one_of(base, st.none())
    return base


def _non_null(node: Mapping[str, Any], resolve: Resolve, depth: int) -> Any:
    if "enum" in node:
        return st.sampled_from([v for v in node["enum"] if v is not None])
    kind = node.get("type", "object" if "properties" in node else "string")
    if kind == "object":
        props = node.get("properties", {})
        required = set(node.get("required", ()))
        if depth > 1 or not props:
            return st.just({})
        return st.fixed_dictionaries(
            {k: valid_value(v, resolve, depth + 1) for k, v in props.items() if k in required},
            optional={
                k: valid_value(v, resolve, depth + 1) for k, v in props.items() if k not in required
            },
        )
    if kind == "string":
        if node.get("format") == "uri":
            return _URLS
        if node.get("format") == "date-time":
            return st.just("2026-09-01T12:00:00.000Z")
        limit = node.get("maxLength")
        texts = _TEXT if limit is None else st.one_of(_TEXT, st.just("x" * limit))
        return texts.filter(lambda s: limit is None or len(s) <= limit)
    if kind in ("number", "integer"):
        low, high = node.get("minimum"), node.get("maximum")
        if kind == "integer":
            return st.integers(min_value=low, max_value=high)
        return st.one_of(
            st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False),
            st.sampled_from([v for v in (low, high) if v is not None] or [1]),
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(valid_value(node.get("items", {}), resolve, depth + 1), max_size=2)
    return st.none()


@dataclass(frozen=True)
class Breakage:
    """One value at one key path that the schema refuses, and what is wrong with it."""

    path: tuple[str, ...]
    value: Any
    why: str

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.why}"


def breakages(
    schema: Mapping[str, Any], resolve: Resolve, path: tuple[str, ...] = ()
) -> list[Breakage]:
    """Every single-value way to make an object ``schema`` refuse a body."""
    node = resolve(schema)
    found: list[Breakage] = []
    for name in node.get("required", ()):
        found.append(Breakage((*path, name), DROP, "required, left out"))
    for name, sub in node.get("properties", {}).items():
        prop = resolve(sub)
        where = (*path, name)
        kind = prop.get("type", "object" if "properties" in prop else "string")
        if "enum" in prop:
            found.append(Breakage(where, "PATCH", "not one of its enum"))
        if kind == "string":
            found.append(Breakage(where, 12345, "a number where a string belongs"))
            if "maxLength" in prop:
                limit = prop["maxLength"]
                found.append(Breakage(where, "x" * (limit + 1), f"longer than {limit}"))
        elif kind in ("number", "integer"):
            found.append(Breakage(where, "ten", "a string where a number belongs"))
            if "minimum" in prop:
                found.append(Breakage(where, prop["minimum"] - 1, "below its minimum"))
            if "maximum" in prop:
                found.append(Breakage(where, prop["maximum"] + 1, "above its maximum"))
            if kind == "integer":
                found.append(Breakage(where, 2.5, "a fraction where an integer belongs"))
        elif kind == "boolean":
            found.append(Breakage(where, "yes", "a string where a boolean belongs"))
        elif kind == "object" and not path:
            found.append(Breakage(where, "on", "a string where an object belongs"))
            found += breakages(prop, resolve, where)
    return found


def broken(body: Mapping[str, Any], breakage: Breakage) -> dict[str, Any]:
    """A copy of ``body`` with ``breakage`` applied."""
    out = dict(body)
    target = out
    for key in breakage.path[:-1]:
        inner = target.get(key)
        target[key] = dict(inner) if isinstance(inner, dict) else {}
        target = target[key]
    last = breakage.path[-1]
    if breakage.value is DROP:
        target.pop(last, None)
    else:
        target[last] = breakage.value
    return out
