"""The package's public surface is exactly what ``simulator.__all__`` lists."""

from __future__ import annotations

import simulator


def test_all_names_exist() -> None:
    """Every name in __all__ is importable from the package."""
    missing = [name for name in simulator.__all__ if not hasattr(simulator, name)]
    assert missing == []


def test_public_names_are_exported() -> None:
    """Every public attribute of the package that is not a submodule is in __all__.

    Names are imported on first use, so only those already used are attributes yet.
    """
    import types

    public = {
        name
        for name, value in vars(simulator).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(simulator.__all__)
