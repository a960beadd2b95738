"""BXML rules the fake Voice API relies on: root, size, syntax, verbs, transfer targets."""

from __future__ import annotations

import pytest

from simulator.protocol.bxml import BxmlError, parse_bxml

GUIDE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
    '  <StartStream destination="wss://h/ws/T" mode="bidirectional" tracks="inbound"/>\n'
    '  <Pause duration="86400"/>\n</Response>'
)


def test_guide_answer_parses() -> None:
    """The guide's webhook answer parses into StartStream then Pause."""
    doc = parse_bxml(GUIDE, context="webhook")
    assert [v.name for v in doc.verbs] == ["StartStream", "Pause"]
    assert doc.start_streams()[0].attributes["mode"] == "bidirectional"


def test_update_rejects_response_root() -> None:
    """PUT /bxml refuses a <Response> root and names the rule."""
    with pytest.raises(BxmlError) as info:
        parse_bxml(GUIDE, context="update", strict_root=True)
    assert info.value.rule == "root"
    assert "<Bxml>" in str(info.value)


def test_size_limit() -> None:
    """A document over 64 KB is refused."""
    with pytest.raises(BxmlError, match="limit") as info:
        parse_bxml("<Bxml>" + " " * 70_000 + "</Bxml>", context="update")
    assert info.value.rule == "size"


def test_entity_expansion_refused() -> None:
    """A DTD with entities (billion laughs, XXE) is refused, never expanded."""
    evil = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Bxml>&a;</Bxml>'
    with pytest.raises(BxmlError) as info:
        parse_bxml(evil, context="update")
    assert info.value.rule == "unsafe-xml"


def test_syntax_error_names_line() -> None:
    """Malformed XML is refused with the line expat reports."""
    with pytest.raises(BxmlError) as info:
        parse_bxml("<Bxml>\n<Pause>\n</Bxml>", context="update")
    assert info.value.rule == "syntax"
    assert info.value.line == 3


def test_unknown_verb_names_line() -> None:
    """A verb Bandwidth does not document is refused with its line."""
    with pytest.raises(BxmlError) as info:
        parse_bxml("<Response>\n<Pause/>\n<Dance/>\n</Response>", context="webhook")
    assert (info.value.rule, info.value.line) == ("unknown-verb", 3)


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (8, True), (9, False)])
def test_transfer_target_count(count: int, ok: bool) -> None:
    """<Transfer> takes 1 to 8 targets."""
    targets = "".join(f"<PhoneNumber>+1555000{i:04d}</PhoneNumber>" for i in range(count))
    xml = f"<Bxml><Transfer>{targets}</Transfer></Bxml>"
    if ok:
        doc = parse_bxml(xml, context="update")
        assert len(doc.transfers()[0].targets) == count
    else:
        with pytest.raises(BxmlError, match="1 to 8"):
            parse_bxml(xml, context="update")


@pytest.mark.parametrize("duration", ["0", "0.05", "86401", "soon"])
def test_pause_duration_range(duration: str) -> None:
    """<Pause> duration must be a number within 0.1-86400 s."""
    with pytest.raises(BxmlError):
        parse_bxml(f'<Response><Pause duration="{duration}"/></Response>', context="webhook")


def test_start_stream_needs_websocket_destination() -> None:
    """<StartStream> destination must be a ws:// or wss:// URI."""
    with pytest.raises(BxmlError, match="ws://"):
        parse_bxml('<Response><StartStream destination="https://x"/></Response>', context="webhook")
