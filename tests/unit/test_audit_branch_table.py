"""Every failure branch written in ``simulator/audit/checks`` is in the branch table.

A branch is the literal message of a ``failed``/``warned``/``missed`` verdict, or of a
problem a check appends to its ``problems`` list (formatted values read as ``{}``). Each
must contain the phrase of an entry of ``tests/integration/audit_branches.py``, whose
bots ``tests/integration/test_audit_branches.py`` audits: a new branch without a bot
that makes it fire (or a reason why none can) fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.integration.audit_branches import BRANCHES, Branch

CHECKS_DIR = Path(__file__).resolve().parents[2] / "simulator" / "audit" / "checks"
VERDICTS = {"failed", "warned", "missed"}
LISTS = {"problems", "accepted", "unanswered"}
WRAPPERS = {
    "the transfer request {}": "transfer.request: the first of _transfer_problems, each in "
    "the table",
    "seed {}: {} (again: {})": "fuzz.start_metadata: its problems, each in the table",
    "seed {}: {}": "fuzz.start_metadata: the crash-only warning's problems",
}
"""Messages that only wrap other branches' messages (no reason of their own)."""


def _text(node: ast.expr) -> str:
    """The literal text of a message expression; formatted values and names read ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    wraps_list = (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "sentence"
        and bool(node.args)
        and isinstance(node.args[0], ast.List)
    )
    if wraps_list:
        assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.List)
        elts = [e for e in node.args[0].elts if not isinstance(e, ast.Starred)]
        return _text(elts[0]) if elts else "{}"
    return "{}"


def _message(node: ast.AST) -> ast.expr | None:
    """The message of a verdict call or of a problem appended to a list, else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        verdict = isinstance(func, ast.Name) and func.id in VERDICTS
        appended = (
            isinstance(func, ast.Attribute)
            and func.attr == "append"
            and isinstance(func.value, ast.Name)
            and func.value.id in LISTS
        )
        return node.args[0] if verdict or appended else None
    extended = (
        isinstance(node, ast.AugAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id in LISTS
        and isinstance(node.value, ast.ListComp)
    )
    if extended:
        assert isinstance(node, ast.AugAssign) and isinstance(node.value, ast.ListComp)
        return node.value.elt
    return None


def branch_messages() -> list[tuple[str, int, str]]:
    """(file, line, literal text) of every failure branch in the checks."""
    out: list[tuple[str, int, str]] = []
    for path in sorted(CHECKS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            message = _message(node)
            if message is None:
                continue
            text = _text(message)
            if text.strip("{} ") and text not in WRAPPERS:
                out.append((path.name, message.lineno, text))
    return out


def test_the_walk_finds_the_checks_branches() -> None:
    """The source walk sees branches in every check module (it is not silently empty)."""
    files = {f for f, _, _ in branch_messages()}
    assert files == {p.name for p in CHECKS_DIR.glob("*.py")} - {"__init__.py"}
    assert len(branch_messages()) >= 40


def test_every_failure_branch_has_an_entry_in_the_branch_table() -> None:
    """Each branch's message contains the phrase of a table entry (a bot, a test, or why)."""
    phrases = {b.phrase for b in BRANCHES}
    templates = {b.template for b in BRANCHES}
    missing = [
        f"{file}:{line}: {text!r}"
        for file, line, text in branch_messages()
        if text not in templates and not any(p in text for p in phrases)
    ]
    assert not missing, "failure branches without an entry in audit_branches.py:\n" + "\n".join(
        missing
    )


def _written(branch: Branch, texts: list[str], source: str) -> bool:
    if branch.template is not None:
        return branch.template in texts
    return any(branch.phrase in t for t in texts) or branch.phrase in source


def test_every_table_entry_is_still_a_branch() -> None:
    """No entry names a template or phrase the checks no longer write (a stale entry)."""
    texts = [t for _, _, t in branch_messages()]
    rules = (CHECKS_DIR.parent / "rules.py").read_text()
    source = "".join(p.read_text() for p in CHECKS_DIR.glob("*.py")) + rules
    stale = [b for b in BRANCHES if not _written(b, texts, source)]
    assert not stale, stale
