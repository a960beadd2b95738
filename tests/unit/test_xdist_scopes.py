"""The xdist dealing (tests/xdist_scopes.py) names modules that exist and keeps them whole."""

from __future__ import annotations

from pathlib import Path

from tests.xdist_scopes import WHOLE_MODULES, OneTestOrWholeModule

ROOT = Path(__file__).resolve().parents[2]


def test_every_whole_module_exists() -> None:
    """A renamed module would silently be split across workers again: each path must exist."""
    missing = sorted(m for m in WHOLE_MODULES if not (ROOT / m).is_file())
    assert not missing, missing


def test_a_whole_module_is_one_unit_and_any_other_test_its_own() -> None:
    """Every test of a whole module shares its scope; two tests of another module do not."""
    split = OneTestOrWholeModule.__dict__["_split_scope"]
    whole = sorted(WHOLE_MODULES)[0]
    assert {split(None, f"{whole}::test_a[x]"), split(None, f"{whole}::test_b")} == {whole}
    other = "tests/unit/test_layers.py"
    assert split(None, f"{other}::test_a") != split(None, f"{other}::test_b")
