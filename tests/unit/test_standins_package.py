"""simulator.standins is optional: never loaded by `import simulator`, and clear when absent.

Without Pipecat or espeak-ng installed, importing it says which extra to install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.runner.targets import BotCredentials, Launch


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )


def test_import_simulator_loads_neither_the_stand_ins_nor_pipecat() -> None:
    """A fresh `import simulator` leaves simulator.standins and pipecat unimported."""
    done = _run(
        "import sys, simulator\n"
        "print(sorted(m for m in ('simulator.standins', 'pipecat', 'espeakng_loader')"
        " if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_importing_the_stand_ins_loads_them() -> None:
    """The check above can fail: importing simulator.standins does load Pipecat."""
    done = _run("import sys, simulator.standins\nprint('pipecat' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("missing", ["pipecat", "espeakng_loader"])
def test_without_its_dependencies_the_import_names_the_extra(missing: str) -> None:
    """With Pipecat or espeak-ng missing, importing simulator.standins says to install the extra."""
    # A None entry in sys.modules makes `import NAME` raise ImportError, as if not installed.
    done = _run(f"import sys\nsys.modules[{missing!r}] = None\nimport simulator.standins")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: simulator.standins needs Pipecat and espeak-ng")
    assert missing in last
    assert "pip install 'bwsim[standins]'" in last


def _launch(tmp_path: Path, **extra_env: str) -> Launch:
    return Launch(
        credentials=BotCredentials.generate("id", "secret"),
        api_base="http://127.0.0.1:9",
        violations_file=tmp_path / "violations.jsonl",
        extra_env=extra_env,
    )


def test_a_bot_bwsim_starts_is_told_to_use_the_stand_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot that bwsim starts gets BWSIM_STANDINS=1 when nothing else says."""
    monkeypatch.delenv("BWSIM_STANDINS", raising=False)
    assert _launch(tmp_path).child_env(None)["BWSIM_STANDINS"] == "1"


def test_bwsim_standins_0_keeps_a_bot_on_its_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BWSIM_STANDINS=0 in bwsim's environment, or a scenario's env, reaches the bot as is."""
    monkeypatch.setenv("BWSIM_STANDINS", "0")
    assert _launch(tmp_path).child_env(None)["BWSIM_STANDINS"] == "0"
    monkeypatch.delenv("BWSIM_STANDINS")
    assert _launch(tmp_path, BWSIM_STANDINS="0").child_env(None)["BWSIM_STANDINS"] == "0"
