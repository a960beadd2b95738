"""The files ``bwsim init`` writes work with the tools they are for: pytest and nox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from simulator.cli.main import main

PROBE = '''\
from simulator import AppTarget


def test_the_target(bwsim_target):
    """The conftest's fixture names the bot init was given, served from the project."""
    assert isinstance(bwsim_target, AppTarget)
    assert bwsim_target.spec == "theirbot:app"
    assert bwsim_target.cwd is not None and (bwsim_target.cwd / "conftest.py").is_file()
'''


def test_pytest_picks_the_written_conftest_up(tmp_path: Path) -> None:
    """A pytest run in the project resolves bwsim_target from the written conftest.py."""
    assert main(["init", "--dir", str(tmp_path), "--app", "theirbot:app"]) == 0
    (tmp_path / "test_probe.py").write_text(PROBE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_probe.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_nox_lists_the_written_e2e_session(tmp_path: Path) -> None:
    """The nox command reads the written noxfile.py and offers its e2e session."""
    assert main(["init", "--dir", str(tmp_path), "--app", "theirbot:app"]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "* e2e" in done.stdout
