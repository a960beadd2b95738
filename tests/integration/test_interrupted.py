"""An interrupted ``bwsim run`` or ``bwsim audit`` still reports what finished, then exits 130.

Real subprocesses: bwsim is started, the test waits for an event (a progress line on
bwsim's stdout, a file the bot writes) and then signals it. ``tests.bots.raw_bot`` serves
the run (``/tone`` plays a tone and listens; ``/listen`` keeps the call up until bwsim
ends it); ``tests.bots.stubborn_bot`` serves the audit (it never answers a webhook).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAP_S = 60.0
"""Longest wait for an event: only there so a broken build fails instead of hanging."""

SUITE = """\
call: {webhook_path: "/tone?keepalive=pause", max_call_s: 300}
allow_violations: [webhook-auth]
scenarios:
  - name: quick
    caller:
      - wait_for: bot_speech_end
      - hangup
    expect:
      - play_audio: {after: stream_accepted}
  - name: endless
    call: {webhook_path: "/listen?keepalive=pause", max_call_s: 300}
    caller:
      - {wait_for: ws_closed, within_ms: 290000}
    expect:
      - stream_accepted: {}
"""


def _ignore_sigint() -> None:
    """Start bwsim with SIGINT ignored, as under `cmd &` or a test runner's worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "simulator.cli.main", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # An inherited "ignore SIGINT" must not make bwsim deaf to `kill -INT` (it did in
        # CI, whose xdist workers pass it on): every run here starts that way.
        preexec_fn=_ignore_sigint,  # noqa: PLW1509 - a signal disposition, no locks
    )


def _poll(done: Callable[[], bool], what: str) -> None:
    """Wait until ``done()`` holds; fail (naming ``what``) if it never does."""
    deadline = time.monotonic() + CAP_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {CAP_S:.0f} s waiting for {what}")
        time.sleep(0.05)


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> list[str]:
    """Read bwsim's stdout until a line containing ``text``; the lines read so far."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=CAP_S)
        except queue.Empty:
            pytest.fail(f"no line with {text!r} within {CAP_S:.0f} s; read: {seen}")
        if line is None:
            _, stderr = proc.communicate(timeout=CAP_S)
            pytest.fail(f"bwsim ended before a line with {text!r}: {seen} {stderr}")
        seen.append(line)
        if text in line:
            return seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_reports_what_finished_and_exits_130(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """Signalled after the first scenario finished: report.json and junit.xml name the rest."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    proc = _start(
        ["run", str(suite), "--app", "tests.bots.raw_bot:app", "--out", str(out)], tmp_path
    )
    try:
        _wait_for_line(proc, "PASS suite/quick")
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=CAP_S)
    finally:
        proc.kill()
        proc.communicate()  # reap it and close its pipes, whatever the test found
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: 1 of 2 scenarios finished" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True
    assert report["passed"] is False
    assert report["summary"] == {
        "total": 2,
        "passed": 1,
        "failed": 0,
        "unreliable": 0,
        "skipped": 1,
        "error": 0,
    }
    quick, endless = report["scenarios"]
    assert quick["status"] == "passed"
    assert endless["status"] == "skipped"
    assert endless["detail"] == "not run: the run was interrupted during its call"
    cases = ET.parse(out / "junit.xml").getroot().findall(".//testcase")
    assert [c.get("name") for c in cases] == ["quick", "endless"]
    assert cases[0].find("skipped") is None
    skipped = cases[1].find("skipped")
    assert skipped is not None
    assert "interrupted" in (skipped.get("message") or "")


def test_an_interrupted_audit_writes_its_report_and_exits_130(tmp_path: Path) -> None:
    """SIGINT while a check waits on the bot: --json names the check as not run, exit 130."""
    report_path = tmp_path / "audit" / "audit.json"
    args = ["audit", "--app", "tests.bots.stubborn_bot:app", "--only", "webhook.auth"]
    proc = _start([*args, "--json", str(report_path)], tmp_path)
    try:
        marker = tmp_path / "stubborn-bot.webhook"
        _poll(lambda: marker.exists() or proc.poll() is not None, "the bot's first webhook")
        assert marker.exists(), proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=CAP_S)
    finally:
        proc.kill()
        proc.communicate()  # reap it and close its pipes, whatever the test found
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "interrupted after 0 of 1 checks" in stderr
    report = json.loads(report_path.read_text())
    assert report["interrupted"] is True
    assert report["exit_code"] == 130
    (check,) = report["checks"]
    assert check["id"] == "webhook.auth"
    assert check["status"] == "skipped"
    assert check["detail"] == "not run: the audit was interrupted"
