"""BXML documents: parsed safely, checked against Bandwidth's rules, turned into verbs.

Pure functions, no I/O (docs/bandwidth.md §3). BXML comes from the bot under test,
so it is parsed with defusedxml (no DTDs, no entity expansion) and every error names
the rule it breaks and the line at fault::

    line 3: <Pause>: duration must be between 0.1 and 86400 seconds (rule attribute-range)

Rules enforced here: the 64 KB size limit; a ``<Response>`` or ``<Bxml>`` root (only
``<Bxml>`` for ``PUT …/calls/{id}/bxml``); verbs from Bandwidth's documented list;
``<Transfer>`` with 1 to 8 ``<PhoneNumber>``/``<SipUri>`` targets; ``<StartStream>`` with a
``ws://``/``wss://`` destination, a known ``mode`` and ``tracks``, at most 12
``<StreamParam>``; ``<Pause>`` duration within 0.1-86400 s; elements nested at most
:data:`MAX_DEPTH` deep.

:func:`parse_bxml` raises nothing but :class:`BxmlError`, whatever the text: a bot can
answer anything, and the harness judging it must not fall over on it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

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

DOCUMENTED_VERBS = frozenset(
    {
        "Bridge", "Conference", "Connect", "Forward", "Gather", "Hangup", "Pause",
        "PauseRecording", "PlayAudio", "Record", "Redirect", "Refer", "ResumeRecording",
        "Ring", "SendDtmf", "SpeakSentence", "StartGather", "StartRecording", "StartStream",
        "StartTranscription", "StopGather", "StopRecording", "StopStream",
        "StopTranscription", "Tag", "Transfer",
    }
)  # fmt: skip


class BxmlError(ValueError):
    """A BXML document Bandwidth would refuse; names the rule and the line at fault."""

    def __init__(self, rule: str, detail: str, line: int | None = None) -> None:
        self.rule = rule
        self.detail = detail
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{detail} (rule {rule})")


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


def _check_range(verb: Verb, attribute: str, low: float, high: float, default: float) -> None:
    raw = verb.attributes.get(attribute)
    try:
        value = default if raw is None else float(raw)
    except ValueError:
        raise BxmlError(
            "attribute-type", f"<{verb.name}>: {attribute}={raw!r} is not a number", verb.line
        ) from None
    if not low <= value <= high:
        raise BxmlError(
            "attribute-range",
            f"<{verb.name}>: {attribute} must be between {low:g} and {high:g}, got {raw}",
            verb.line,
        )


def _check_verb(verb: Verb) -> None:
    if verb.name not in DOCUMENTED_VERBS:
        raise BxmlError(
            "unknown-verb", f"<{verb.name}> is not a BXML verb Bandwidth documents", verb.line
        )
    a = verb.attributes
    if verb.name == "StartStream":
        destination = a.get("destination", "")
        if not destination.startswith(("ws://", "wss://")):
            raise BxmlError(
                "missing-attribute" if not destination else "attribute-value",
                f"<StartStream>: destination must be a ws:// or wss:// URI, got {destination!r}",
                verb.line,
            )
        if a.get("mode", "unidirectional") not in ("unidirectional", "bidirectional"):
            raise BxmlError(
                "attribute-value",
                f"<StartStream>: mode must be unidirectional or bidirectional, got {a['mode']!r}",
                verb.line,
            )
        if a.get("tracks", "inbound") not in ("inbound", "outbound", "both"):
            raise BxmlError(
                "attribute-value",
                f"<StartStream>: tracks must be inbound, outbound or both, got {a['tracks']!r}",
                verb.line,
            )
        params = [c for c in verb.children if c.name == "StreamParam"]
        if len(params) > 12:
            raise BxmlError(
                "attribute-range", "<StartStream>: at most 12 <StreamParam> allowed", verb.line
            )
    elif verb.name in ("Pause", "Ring"):
        _check_range(verb, "duration", 0.1, 86400, 1 if verb.name == "Pause" else 5)
    elif verb.name == "StopStream":
        if not a.get("name"):
            raise BxmlError("missing-attribute", "<StopStream>: name is required", verb.line)
    elif verb.name == "Redirect":
        if not a.get("redirectUrl"):
            raise BxmlError("missing-attribute", "<Redirect>: redirectUrl is required", verb.line)
    elif verb.name == "Gather":
        _check_range(verb, "maxDigits", 1, 50, 50)
        _check_range(verb, "interDigitTimeout", 1, 60, 5)
        _check_range(verb, "firstDigitTimeout", 0, 60, 5)
        _check_range(verb, "repeatCount", 1, 25, 1)
        prompts = [c for c in verb.children if c.name in ("SpeakSentence", "PlayAudio")]
        if float(a.get("repeatCount", 1)) * len(prompts) > 20:
            raise BxmlError(
                "attribute-range",
                "<Gather>: repeatCount times the number of nested prompts must be at most 20",
                verb.line,
            )
    elif verb.name == "StartGather":
        if not a.get("dtmfUrl"):
            raise BxmlError("missing-attribute", "<StartGather>: dtmfUrl is required", verb.line)
    elif verb.name == "Transfer":
        count = len(verb.targets)
        if not 1 <= count <= 8:
            raise BxmlError(
                "transfer-targets",
                f"<Transfer> needs 1 to 8 <PhoneNumber>/<SipUri> targets, got {count}",
                verb.line,
            )
        if "callTimeout" in a:
            _check_range(verb, "callTimeout", 1, 300, 30)


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
        _check_verb(verb)
    return BxmlDocument(root=root.tag, verbs=verbs)  # type: ignore[arg-type]
