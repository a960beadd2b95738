"""Fuzz: BXML answers into the simulator, any text up to Bandwidth's 64 KB limit.

:func:`simulator.protocol.bxml.parse_bxml` reads what the bot under test answers, so it
must take anything: the answer is a parsed document or a :class:`BxmlError` naming its
rule (what ``bwsim run`` reports as ``invalid-bxml``), never another exception. The
strategies mix raw text and bytes, documents built from Bandwidth's verbs with random
attributes and nesting, and deep nesting up to the size limit.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator.protocol.bxml import DOCUMENTED_VERBS, MAX_BYTES, BxmlDocument, BxmlError, parse_bxml

# A hang guard, not a speed bound: the fuzz profile runs 10,000 examples per test.
# Not marked `fuzz`: these run at the default count in every test run, and at 10,000
# examples in `nox -s fuzz`, which names these files.
pytestmark = [pytest.mark.timeout(120 + 0.2 * settings().max_examples)]

RULE = re.compile(r"[a-z]+(-[a-z]+)*")
"""A rule name as ``bwsim run`` shows it: ``size``, ``syntax``, ``unknown-verb`` …"""
_TEXT = st.characters(exclude_categories=["Cs"])
_NAMES = st.one_of(
    st.sampled_from(sorted(DOCUMENTED_VERBS)),
    st.sampled_from(["Response", "Bxml", "PhoneNumber", "SipUri", "StreamParam", "x"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True),
)
_ATTRS = st.sampled_from(
    [
        "name", "destination", "mode", "tracks", "duration", "redirectUrl", "callTimeout",
        "value", "username", "password", "transferCallerId", "url", "x",
    ]
)  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1e309", "nan", "bidirectional", "ws://h/x", "inbound"]),
    st.text(_TEXT, max_size=10).map(lambda t: t.replace("\x00", "")),
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _xml_safe(text: str) -> str:
    return "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))


def elements() -> st.SearchStrategy[str]:
    """One element from Bandwidth's verbs or others, random attributes, children, text."""
    leaf = st.builds(
        lambda name, attrs, text: (
            f"<{name}"
            + "".join(f' {k}="{_escape(_xml_safe(v))}"' for k, v in attrs.items())
            + f">{_escape(_xml_safe(text))}</{name}>"
        ),
        _NAMES,
        st.dictionaries(_ATTRS, _VALUES, max_size=3),
        st.text(_TEXT, max_size=8),
    )
    return st.recursive(
        leaf,
        lambda inner: st.builds(
            lambda name, kids: f"<{name}>{''.join(kids)}</{name}>",
            _NAMES,
            st.lists(inner, max_size=4),
        ),
        max_leaves=12,
    )


def documents() -> st.SearchStrategy[str | bytes]:
    """Whole answers: verb documents under a root, raw text and bytes, broken documents."""
    root = st.sampled_from(["Response", "Bxml", "Response", "Bxml", "Speak"])
    built = st.builds(
        lambda r, kids, prolog: f"{prolog}<{r}>{''.join(kids)}</{r}>",
        root,
        st.lists(elements(), max_size=5),
        st.sampled_from(["", '<?xml version="1.0" encoding="UTF-8"?>', "<!DOCTYPE x>"]),
    )
    cut = st.builds(lambda d, n: d[: max(0, len(d) - n)], built, st.integers(0, 20))
    raw = st.one_of(st.text(_TEXT, max_size=200), st.binary(max_size=200))
    return st.one_of(built, built, cut, raw)


def _parse(text: str | bytes, **kwargs: Any) -> BxmlDocument | BxmlError:
    try:
        return parse_bxml(text, **kwargs)
    except BxmlError as exc:
        return exc


def _check(text: str | bytes) -> None:
    for result in (
        _parse(text, context="webhook"),
        _parse(text, context="update", strict_root=True),
    ):
        if isinstance(result, BxmlError):
            assert RULE.fullmatch(result.rule), f"a BXML error names its rule: {result.rule!r}"
            assert result.detail
        else:
            assert isinstance(result, BxmlDocument)


@given(documents())
@example("<Response><Transfer></Transfer></Response>")
@example("<Response><Pause duration='nan'/></Response>")
@example('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>')
@example("<Response>" + "x" * MAX_BYTES + "</Response>")
def test_any_answer_is_a_document_or_a_named_bxml_error(text: str | bytes) -> None:
    """Verb documents, broken XML, raw text and bytes parse or raise BxmlError, nothing else."""
    _check(text)


def _nested(depth: int, tag: str) -> str:
    """``depth`` nested elements under ``<Response>``, cut to fit the 64 KB limit."""
    inner = (MAX_BYTES - 40) // (2 * len(tag) + 5)
    depth = min(depth, inner)
    return f"<Response>{f'<{tag}>' * depth}{f'</{tag}>' * depth}</Response>"


# The pinned example is the 63 KB, 9,000-deep answer of issue 15: parse_bxml caps the
# depth, so it is a named error, not a RecursionError.
@given(depth=st.integers(1, 12_000), tag=st.sampled_from(["a", "Gather", "Response"]))
@example(depth=9_000, tag="a")
def test_deep_nesting_under_the_size_limit_is_a_document_or_a_named_error(
    depth: int, tag: str
) -> None:
    """Thousands of nested elements within 64 KB parse or raise BxmlError, never RecursionError."""
    _check(_nested(depth, tag))
