"""parse_bxml never raises anything but BxmlError, however deep or strange the text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.protocol.bxml import MAX_BYTES, MAX_DEPTH, BxmlDocument, BxmlError, parse_bxml

DEEP = "<Response>\n" + "<a>" * 9_000 + "</a>" * 9_000 + "</Response>"


def nested(depth: int, root: str = "Bxml") -> str:
    """A document whose innermost element sits ``depth`` levels down (root is level 1).

    The levels below ``<SpeakSentence>`` are SSML-like tags, the one place BXML nests freely.
    """
    inner = depth - 3
    return (
        f"<{root}><Gather><SpeakSentence>"
        + "<b>" * inner
        + "</b>" * inner
        + f"</SpeakSentence></Gather></{root}>"
    )


def test_nine_thousand_deep_is_a_named_error() -> None:
    """The 63 KB, 9,000-deep document is refused as rule depth on its line, not RecursionError."""
    assert len(DEEP.encode()) < MAX_BYTES
    with pytest.raises(BxmlError) as info:
        parse_bxml(DEEP, context="webhook")
    assert info.value.rule == "depth"
    assert info.value.line == 2
    assert f"at most {MAX_DEPTH} deep" in str(info.value)


def test_depth_at_the_cap_parses() -> None:
    """A document exactly MAX_DEPTH deep parses."""
    doc = parse_bxml(nested(MAX_DEPTH), context="update")
    assert [v.name for v in doc.verbs] == ["Gather"]


def test_depth_one_past_the_cap_is_refused() -> None:
    """One level past MAX_DEPTH is refused by the depth rule."""
    with pytest.raises(BxmlError) as info:
        parse_bxml(nested(MAX_DEPTH + 1), context="update")
    assert info.value.rule == "depth"


def test_lone_surrogate_is_a_named_error() -> None:
    """Text that cannot be UTF-8 encoded (a lone surrogate) is a syntax error, not a crash."""
    with pytest.raises(BxmlError) as info:
        parse_bxml("<Bxml>\ud800</Bxml>", context="update")
    assert info.value.rule == "syntax"


_TAGS = st.sampled_from(
    ["Response", "Bxml", "Pause", "Gather", "Transfer", "PhoneNumber", "StartStream", "a"]
)


@st.composite
def xmlish(draw: st.DrawFn) -> str:
    """Tag soup: fragments of BXML glued together, often nearly well formed."""
    parts = draw(
        st.lists(
            st.one_of(
                _TAGS.map(lambda t: f"<{t}>"),
                _TAGS.map(lambda t: f"</{t}>"),
                _TAGS.map(lambda t: f"<{t}/>"),
                st.builds(
                    lambda t, k, v: f'<{t} {k}="{v}">',
                    _TAGS,
                    st.sampled_from(["duration", "destination", "mode", "tracks", "name"]),
                    st.text(max_size=8),
                ),
                st.text(max_size=10),
                st.sampled_from(["<!DOCTYPE r>", "&amp;", "&x;", "<?xml version='1.0'?>", "\n"]),
            ),
            max_size=60,
        )
    )
    return "".join(parts)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=2_000),
        st.binary(max_size=2_000),
        xmlish(),
        st.integers(min_value=1, max_value=20_000).map(lambda n: "<Bxml>" + "<a>" * n),
    ),
    st.sampled_from(["webhook", "update"]),
    st.booleans(),
)
def test_any_text_gives_a_document_or_bxml_error(
    text: str | bytes, context: str, strict_root: bool
) -> None:
    """Any text of at most 64 KB parses to a document or raises BxmlError, nothing else."""
    result: BxmlDocument | BxmlError
    try:
        result = parse_bxml(text, context=context, strict_root=strict_root)  # type: ignore[arg-type]
    except BxmlError as err:
        result = err
    assert isinstance(result, BxmlDocument) or result.rule
