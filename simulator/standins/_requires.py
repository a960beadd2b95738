"""What the stand-ins need beyond bwsim, checked first so that a missing one names the extra."""

from __future__ import annotations

import importlib

for _needed in ("pipecat", "espeakng_loader"):
    try:
        importlib.import_module(_needed)
    except ImportError as exc:  # exercised in a subprocess by the tests
        _MISSING = (
            f"simulator.standins needs Pipecat and espeak-ng, but {exc.name or _needed} is not "
            "installed: install bwsim's `standins` extra, e.g. `pip install 'bwsim[standins]'` "
            "or `uv add --dev 'bwsim[standins]'`"
        )
        raise ImportError(_MISSING, name=exc.name) from exc
