"""The ``bwsim`` command's last line of defence: a bug in bwsim is exit 2, in one line."""

from __future__ import annotations

import argparse

import pytest

from simulator.cli import init, main


def _boom(args: argparse.Namespace) -> int:
    raise RuntimeError("boom")


def test_an_unexpected_error_is_exit_2_with_one_line_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exception no subcommand handles gives exit 2 and names it, without a traceback."""
    monkeypatch.setattr(init, "run", _boom)
    monkeypatch.delenv("BWSIM_DEBUG", raising=False)
    assert main.main(["init"]) == 2
    err = capsys.readouterr().err
    assert "bwsim: internal error, the run could not be made: RuntimeError: boom." in err
    assert "Traceback" not in err


def test_bwsim_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """BWSIM_DEBUG=1 adds the traceback, for a bug report."""
    monkeypatch.setattr(init, "run", _boom)
    monkeypatch.setenv("BWSIM_DEBUG", "1")
    assert main.main(["init"]) == 2
    assert "Traceback" in capsys.readouterr().err
