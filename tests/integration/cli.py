"""``bwsim`` as a user runs it: a subprocess of this interpreter, output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def bwsim(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``bwsim ARGS`` to its end (``env`` None: this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=cwd,
        check=False,
    )
