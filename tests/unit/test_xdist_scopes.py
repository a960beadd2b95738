"""The xdist dealing (tests/xdist_scopes.py) names modules that exist and keeps them whole."""

from __future__ import annotations

from pathlib import Path

from tests.xdist_scopes import UNITS, WHOLE_FUNCTIONS, OneTestOrWholeModule

ROOT = Path(__file__).resolve().parents[2]
split = OneTestOrWholeModule.__dict__["_split_scope"]
"""The scope of a node id (the method reads nothing of the scheduler)."""


def test_every_listed_module_exists() -> None:
    """A renamed module would silently be split across workers again: each path must exist."""
    missing = sorted(m for m in UNITS.keys() | WHOLE_FUNCTIONS if not (ROOT / m).is_file())
    assert not missing, missing


def test_a_whole_module_is_one_unit_and_any_other_test_its_own() -> None:
    """Every test of a listed module shares its unit; two tests of another module do not."""
    whole = "tests/integration/test_audit_branches.py"
    assert {split(None, f"{whole}::test_a[x]"), split(None, f"{whole}::test_b")} == {"audits"}
    other = "tests/unit/test_layers.py"
    assert split(None, f"{other}::test_a") != split(None, f"{other}::test_b")


def test_every_in_process_audit_module_is_in_the_audits_unit() -> None:
    """A new test_audit*.py module joins the others, so that no two audits run at once."""
    found = ROOT.glob("tests/integration/test_audit*.py")
    modules = {p.relative_to(ROOT).as_posix() for p in found}
    assert {m: UNITS.get(m) for m in modules} == dict.fromkeys(modules, "audits")


def test_a_whole_function_keeps_its_cases_together_and_apart_from_other_functions() -> None:
    """The cases of one function share a scope; another function of the module has its own."""
    module = sorted(WHOLE_FUNCTIONS)[0]
    cases = {split(None, f"{module}::test_a[x-y/z]"), split(None, f"{module}::test_a[w]")}
    assert cases == {f"{module}::test_a"}
    assert split(None, f"{module}::test_b[x]") != f"{module}::test_a"
