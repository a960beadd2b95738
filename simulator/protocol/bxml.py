"""BXML documents: parsed safely, checked against Bandwidth's rules, turned into verbs.

Pure functions, no I/O (docs/bandwidth.md §3). BXML comes from the bot under test,
so it is parsed with defusedxml (no DTDs, no entity expansion) and every error names
the rule it breaks and the line at fault::

    line 3: <Pause>: duration must be between 0.1 and 86400 seconds (rule attribute-range)

Rules enforced here: the 64 KB size limit; a ``<Response>`` or ``<Bxml>`` root (only
``<Bxml>`` for ``PUT …/calls/{id}/bxml``); elements nested at most :data:`MAX_DEPTH`
deep. Each verb, its attributes, what it nests and the values it takes are checked by
:mod:`simulator.protocol.bxml_rules` (verbs from Bandwidth's documented list, no unknown
attribute, 1 to 8 ``<Transfer>`` targets with E.164 numbers, ``<StartStream>`` with a
``ws://``/``wss://`` destination and at most 12 ``<StreamParam>`` …).

:func:`parse_bxml` raises nothing but :class:`BxmlError`, whatever the text: a bot can
answer anything, and the harness judging it must not fall over on it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from simulator.protocol.bxml_rules import DOCUMENTED_VERBS, BxmlError, check_verb

__all__ = [
    "DOCUMENTED_VERBS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "BxmlDocument",
    "BxmlError",
    "TransferTarget",
    "Verb",
    "parse_bxml",
]

MAX_BYTES = 65_536
"""Bandwidth's BXML document size limit (docs/bandwidth.md §3.1)."""

MAX_DEPTH = 32
"""How deep elements may nest, the root being depth 1 (rule ``depth``).

Bandwidth's BXML is shallow: the deepest documented shape is a root, a verb, a nested
verb or target (``<Gather><SpeakSentence>``, ``<Transfer><PhoneNumber>``) and a few SSML
tags inside ``<SpeakSentence>``, well under ten levels. 32 leaves room for any real
document while keeping the tree walk far from Python's recursion limit: 64 KB of
``<a>`` tags could otherwise nest about 9,000 deep and crash the parser's caller.
"""


@dataclass(frozen=True)
class TransferTarget:
    """One ``<PhoneNumber>`` or ``<SipUri>`` of a ``<Transfer>``."""

    kind: Literal["PhoneNumber", "SipUri"]
    value: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verb:
    """One verb of a document: its name, attributes, text, line and nested elements."""

    name: str
    attributes: dict[str, str]
    text: str
    line: int | None
    children: tuple[Verb, ...] = ()

    @property
    def targets(self) -> tuple[TransferTarget, ...]:
        """For ``<Transfer>``: its targets, in document order."""
        return tuple(
            TransferTarget(c.name, c.text, dict(c.attributes))  # type: ignore[arg-type]
            for c in self.children
            if c.name in ("PhoneNumber", "SipUri")
        )


@dataclass(frozen=True)
class BxmlDocument:
    """A parsed, checked BXML document."""

    root: Literal["Response", "Bxml"]
    verbs: tuple[Verb, ...]

    def transfers(self) -> list[Verb]:
        """The ``<Transfer>`` verbs, in order."""
        return [v for v in self.verbs if v.name == "Transfer"]

    def start_streams(self) -> list[Verb]:
        """The ``<StartStream>`` verbs, in order."""
        return [v for v in self.verbs if v.name == "StartStream"]


class _LineBuilder(ET.TreeBuilder):
    """Tree builder that records the source line of every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[int, int] = {}
        self.depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        line = self.parser.parser.CurrentLineNumber if self.parser is not None else None
        self.depth += 1
        if self.depth > MAX_DEPTH:
            # Refused while parsing, before the tree grows: nothing later walks it.
            raise BxmlError(
                "depth",
                f"<{tag}> is nested {self.depth} deep; BXML nests at most {MAX_DEPTH} deep",
                line,
            )
        element = super().start(tag, attrs)
        if line is not None:
            self.lines[id(element)] = line
        return element

    def end(self, tag: str) -> ET.Element:
        self.depth -= 1
        return super().end(tag)


def _to_verb(element: ET.Element, lines: dict[int, int]) -> Verb:
    return Verb(
        name=element.tag,
        attributes=dict(element.attrib),
        text=(element.text or "").strip(),
        line=lines.get(id(element)),
        children=tuple(_to_verb(child, lines) for child in element),
    )


def parse_bxml(
    text: str | bytes,
    *,
    context: Literal["webhook", "update"],
    strict_root: bool = False,
    max_bytes: int = MAX_BYTES,
) -> BxmlDocument:
    """Parse and check a BXML document; raises :class:`BxmlError` naming rule and line.

    ``context="update"`` is ``PUT …/calls/{id}/bxml``: every spec example uses a
    ``<Bxml>`` root there, so with ``strict_root`` a ``<Response>`` root is refused.
    ``context="webhook"`` accepts both roots (Bandwidth's own samples answer webhooks with
    ``<Bxml>``; docs/bandwidth.md §3.1) unless ``strict_root`` asks for ``<Response>`` only.
    """
    try:
        raw = text.encode("utf-8") if isinstance(text, str) else text
    except UnicodeEncodeError as exc:
        raise BxmlError(
            "syntax", f"not well-formed XML: text is not UTF-8 ({exc.reason})"
        ) from None
    if len(raw) > max_bytes:
        raise BxmlError(
            "size", f"document is {len(raw)} bytes; Bandwidth's limit is {max_bytes} bytes"
        )
    builder = _LineBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.parser = parser
    try:
        parser.feed(raw)
        root = parser.close()
    except DefusedXmlException as exc:
        raise BxmlError("unsafe-xml", f"refused unsafe XML: {exc}") from None
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise BxmlError("syntax", f"not well-formed XML: {exc}", line) from None
    lines = builder.lines
    if root.tag not in ("Response", "Bxml"):
        raise BxmlError(
            "root",
            f"root element must be <Response> or <Bxml>, got <{root.tag}>",
            lines.get(id(root)),
        )
    if context == "update" and strict_root and root.tag != "Bxml":
        raise BxmlError(
            "root",
            "PUT /bxml takes a <Bxml> root; <Response> is for webhook answers",
            lines.get(id(root)),
        )
    if context == "webhook" and strict_root and root.tag != "Response":
        raise BxmlError(
            "root", "webhook answers must use a <Response> root (strict mode)", lines.get(id(root))
        )
    verbs = tuple(_to_verb(child, lines) for child in root)
    for verb in verbs:
        check_verb(verb)
    return BxmlDocument(root=root.tag, verbs=verbs)  # type: ignore[arg-type]
