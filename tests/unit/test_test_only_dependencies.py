"""The OpenAPI and JSON Schema validators are test dependencies: simulator/ never imports them."""

from __future__ import annotations

import re
from pathlib import Path

SIMULATOR = Path(__file__).resolve().parents[2] / "simulator"
TEST_ONLY = re.compile(r"^\s*(?:from|import)\s+(openapi_core|jsonschema|jsonschema_path)\b", re.M)


def test_simulator_imports_no_test_only_validator() -> None:
    """No module of simulator/ imports openapi_core or jsonschema (not installed for users)."""
    found = [
        f"{path.relative_to(SIMULATOR.parent)}: {m.group(1)}"
        for path in sorted(SIMULATOR.rglob("*.py"))
        for m in TEST_ONLY.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
