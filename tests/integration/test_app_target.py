"""``--app MODULE:ATTR`` naming something that is not an ASGI app is exit 2 before any call.

Every front end that starts an ``--app`` bot goes through the same child
(``simulator.runner.serve_app``), which checks what it loaded before serving; the names
come from ``tests/bots/not_asgi.py``. Also here: where ``bwsim audit`` puts the bot's log.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from simulator.errors import TargetError
from simulator.runner.harness import Harness
from simulator.runner.serve_app import EXPECTED
from simulator.runner.targets import AppTarget
from tests.integration.cli import bwsim

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
SUITE = "scenarios:\n  - name: a\n    expect: [clear]\n"


def _bwsim(*args: str) -> subprocess.CompletedProcess[str]:
    return bwsim(*args, cwd=ROOT)


@pytest.mark.parametrize(
    ("attr", "named"),
    [
        ("a_module", "names the module json"),
        ("handler", "names the function tests.bots.not_asgi.handler(request, settings)"),
        ("nothing", "names None"),
    ],
)
def test_run_refuses_an_app_that_is_not_asgi_with_exit_2(
    tmp_path: Path, attr: str, named: str
) -> None:
    """Bwsim run: exit 2, the message names what --app found and what it expects; no call."""
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    done = _bwsim("run", str(suite), "--app", f"tests.bots.not_asgi:{attr}", "--out", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"bwsim: --app tests.bots.not_asgi:{attr} {named}" in done.stderr
    assert f"not an ASGI app. bwsim expects {EXPECTED}." in done.stderr
    assert "Traceback" not in done.stderr
    assert not (out / "report.json").exists()


def test_call_refuses_an_app_that_is_not_asgi_with_exit_2() -> None:
    """Bwsim call: the same refusal, exit 2."""
    audio = ROOT / "simulator" / "suite" / "audio" / "hello.wav"
    done = _bwsim("call", "--app", "tests.bots.not_asgi:handler", "--audio", str(audio))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "names the function tests.bots.not_asgi.handler" in done.stderr
    assert "not an ASGI app" in done.stderr


def test_audit_refuses_an_app_that_is_not_asgi_with_exit_2(tmp_path: Path) -> None:
    """Bwsim audit: the same refusal, exit 2, and --json records it as the error."""
    report = tmp_path / "audit.json"
    done = _bwsim("audit", "--app", "tests.bots.not_asgi:a_module", "--json", str(report))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "names the module json" in done.stderr
    assert "not an ASGI app" in json.loads(report.read_text())["error"]


def test_the_harness_the_pytest_plugin_uses_raises_target_error() -> None:
    """The runner API (and so the pytest plugin's bwsim_simulator) raises TargetError."""

    async def start() -> None:
        async with Harness(AppTarget("tests.bots.not_asgi:nothing", cwd=ROOT)):
            pass

    with pytest.raises(TargetError, match=r"names None .*not an ASGI app"):
        asyncio.run(start())


def test_the_pytest_plugin_reports_the_refusal_as_the_tests_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--bwsim-app naming a function: the test using bwsim errors with the refusal, no hang."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the bot child imports tests.bots from here
    pytester.makepyfile(test_user="def test_call(bwsim):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-q", "--bwsim-app", "tests.bots.not_asgi:handler", timeout=100
    )
    assert result.parseoutcomes().get("errors") == 1, result.stdout.str()
    out = result.stdout.str()
    assert "TargetError: --app tests.bots.not_asgi:handler names the function" in out
    assert "not an ASGI app" in out


def test_audit_puts_the_bot_logs_next_to_its_json_report(tmp_path: Path) -> None:
    """Bwsim audit --json DIR/x.json: both bots' logs are in DIR/bots/, named in table and JSON."""
    report = tmp_path / "audit.json"
    args = ["--app", "tests.bots.speaker_bot:app", "--only", "token.fresh", "webhook.creds_unset"]
    done = _bwsim("audit", *args, "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    bots = tmp_path / "bots"
    logs = [
        bots / "1-app-tests-bots-speaker-bot-app.log",
        bots / "2-app-tests-bots-speaker-bot-app-without-webhook-credentials.log",
    ]
    assert all(log.is_file() for log in logs), sorted(bots.iterdir())
    for log in logs:
        assert f"bwsim audit: bot log {log}" in done.stdout
    assert json.loads(report.read_text())["bot_logs"] == [str(log) for log in logs]
