"""bwsim bootstrap: installs the request interception in a bot process bwsim started.

bwsim puts this folder first on the child's ``PYTHONPATH`` and describes its fake
Bandwidth in ``$BWSIM_INTERCEPT``. Python imports ``sitecustomize`` at startup, so the
hooks are in place before the bot imports anything. The module is loaded by file path,
so the child needs none of bwsim's dependencies.
"""

import importlib.util
import os
import sys
from pathlib import Path

if os.environ.get("BWSIM_INTERCEPT"):
    _path = Path(__file__).resolve().parent.parent / "intercept.py"
    _spec = importlib.util.spec_from_file_location("_bwsim_intercept", _path)
    if _spec is None or _spec.loader is None:
        sys.exit(f"bwsim bootstrap: cannot load {_path}")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["_bwsim_intercept"] = _module
    _spec.loader.exec_module(_module)
    _module.install_from_env()
