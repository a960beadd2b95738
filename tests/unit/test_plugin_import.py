"""Loading the pytest plugin, which every pytest run of a project with bwsim does, is cheap."""

from __future__ import annotations

import subprocess
import sys

MACHINERY = (
    "numpy",
    "httpx",
    "respx",
    "uvicorn",
    "websockets",
    "yaml",
    "simulator.runner.harness",
    "simulator.call.session",
    "simulator.rest.voice_api",
)
"""What the plugin's fixtures use, imported only once a test asks for one of them."""


def test_loading_the_plugin_imports_none_of_the_machinery() -> None:
    """`import simulator.pytest_plugin` leaves the harness, numpy, httpx, respx unimported."""
    code = (
        "import sys, simulator.pytest_plugin\n"
        f"print(','.join(m for m in {MACHINERY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
