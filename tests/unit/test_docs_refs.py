"""Section references in the code point at documents and sections that exist in the repository.

A reference is ``<path>.md`` followed by one or more sections (``docs/bandwidth.md``
then section marks such as 1.4 or 2.3-2.7, written with the section sign). A bare
section mark in a module refers to the last document the module named before it.
Section marks after ``RFC <n>`` or ``G.<n>`` are sections of those public standards.
The section sign is spelled as a Unicode escape here, so this file cites nothing itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIGN = "\u00a7"
SECTION = rf"{SIGN}\d+(?:\.\d+)*"
GROUP_RE = re.compile(rf"{SECTION}(?:\s*(?:,|-|\u2013|\band\b)\s*(?:#\s*)?{SECTION})*")
DOC_REF_RE = re.compile(rf"(?P<doc>[\w./-]*\.md)\s+(?:#\s*)?(?P<group>{GROUP_RE.pattern})")
NUMBER_RE = re.compile(rf"{SIGN}(\d+(?:\.\d+)*)")
STANDARD_RE = re.compile(r"(?:RFC\s+\d+|G\.\d+)[ \t]*$")
HEADING_RE = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml"}
OUTSIDE = [
    ".." + "/shared/",
    *(name + ".md" for name in ("bandwidth-protocol", "pipecat-notes", "style", "design")),
]


def _files(suffixes: set[str]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix in suffixes:
                yield path


def _sections(doc: Path) -> set[str]:
    return set(HEADING_RE.findall(doc.read_text(encoding="utf-8")))


def _section_problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(ROOT).as_posix()
    named = [(m.start(), m.end(), m.group("doc")) for m in DOC_REF_RE.finditer(text)]
    problems = []
    for group in GROUP_RE.finditer(text):
        if STANDARD_RE.search(text, 0, group.start()):
            continue
        before = [doc for start, _end, doc in named if start <= group.start()]
        where = f"{rel}:{text.count(chr(10), 0, group.start()) + 1}"
        if not before:
            problems.append(f"{where}: {group.group(0)} names no document")
            continue
        doc = ROOT / before[-1]
        if not doc.is_file():
            problems.append(f"{where}: {before[-1]} is not a file in the repository")
            continue
        missing = sorted(set(NUMBER_RE.findall(group.group(0))) - _sections(doc))
        if missing:
            problems.append(f"{where}: {before[-1]} has no section {', '.join(missing)}")
    return problems


def test_section_references_name_existing_sections() -> None:
    """Every section mark in the Python code names an in-repo document and one of its headings."""
    paths = sorted(_files({".py"}))
    assert any(p.is_relative_to(ROOT / "simulator") for p in paths)
    problems = [problem for path in paths for problem in _section_problems(path)]
    assert problems == []


def test_no_reference_outside_the_repository() -> None:
    """No code, doc or config file cites the old shared notes or a path outside the repository."""
    problems = [
        f"{path.relative_to(ROOT).as_posix()}: {needle}"
        for path in sorted(_files(TEXT_SUFFIXES))
        for needle in OUTSIDE
        if needle in path.read_text(encoding="utf-8")
    ]
    assert problems == []


def test_cited_documents_have_numbered_sections() -> None:
    """The protocol reference pages carry the numbered headings the code cites."""
    assert {"1.4", "2.8", "3.1", "4.4", "5.6", "6"} <= _sections(ROOT / "docs" / "bandwidth.md")
    assert {"2", "3", "4"} <= _sections(ROOT / "docs" / "pipecat.md")
