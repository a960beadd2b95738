"""``bwsim audit`` on the command line: the table, ``--json``, and exit codes 0, 1 and 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.bot_process import free_port, uvicorn_app

SPEAKER = "tests.bots.speaker_bot:app"
CHEAP = ["--only", "webhook.auth", "token.fresh"]


def bwsim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the bwsim CLI in a child process; the test bot's SPEAKER_* settings are passed on."""
    passed = [f"--pass-env={name}" for name in env or {} if name.startswith("SPEAKER_")]
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", "audit", *args, *passed],
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_passing_audit_exits_0_and_writes_the_json_report(tmp_path: Path) -> None:
    """Every selected check passes: exit 0, a PASS row each, and a schema-1 JSON report."""
    out = tmp_path / "report.json"
    done = bwsim("--app", SPEAKER, *CHEAP, "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS    webhook.auth" in done.stdout
    assert "bwsim audit: 2 passed (exit 0)" in done.stdout
    doc = json.loads(out.read_text())
    assert doc["schema"] == 1
    assert doc["exit_code"] == 0
    assert doc["target"] == f"--app {SPEAKER}"
    assert [(c["id"], c["passed"]) for c in doc["checks"]] == [
        ("webhook.auth", True),
        ("token.fresh", True),
    ]
    answers = doc["checks"][0]["evidence"]["answers"]
    assert {a["status"] for a in answers.values()} == {401}


def test_a_failed_check_exits_1_and_says_what_to_do(tmp_path: Path) -> None:
    """A bot that takes the right credentials under any scheme: exit 1, the fix in the detail."""
    out = tmp_path / "report.json"
    done = bwsim("--app", SPEAKER, *CHEAP, "--json", str(out), env={"SPEAKER_FLAW": "any-scheme"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL    webhook.auth" in done.stdout
    doc = json.loads(out.read_text())
    auth = doc["checks"][0]
    assert (auth["id"], auth["passed"], auth["status"]) == ("webhook.auth", False, "failed")
    assert "WWW-Authenticate: Basic" in auth["detail"]
    assert doc["checks"][1]["passed"] is True


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--app", "no.such.module:app"], "no.such.module"),
        (["--app", SPEAKER, "--only", "webhook.oauth"], "no such check"),
        (["--app", SPEAKER, "--audio-dir", "/nonexistent"], "hello.wav"),
        (["--url", "http://127.0.0.1:9"], "BANDWIDTH_CLIENT_ID"),
    ],
    ids=["bot-does-not-start", "unknown-check", "no-caller-audio", "url-without-secrets"],
)
def test_an_audit_that_cannot_be_made_exits_2(args: list[str], said: str, tmp_path: Path) -> None:
    """A bot that does not start, an unknown check, no audio, no secrets: exit 2, said why."""
    out = tmp_path / "report.json"
    done = bwsim(*args, "--json", str(out), env={"BANDWIDTH_CLIENT_ID": ""})
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    doc = json.loads(out.read_text())
    assert (doc["schema"], doc["exit_code"], doc["checks"]) == (1, 2, [])
    assert said in doc["error"]


def test_a_url_target_skips_what_needs_a_process_and_never_passes_it(tmp_path: Path) -> None:
    """--url: webhook.creds_unset is skipped with the reason; the others run; exit 0."""
    api_port = free_port()
    env = {
        **os.environ,
        "BANDWIDTH_CLIENT_ID": "hand-client",
        "BANDWIDTH_CLIENT_SECRET": "hand-secret",
        "BANDWIDTH_WEBHOOK_USERNAME": "hand-user",
        "BANDWIDTH_WEBHOOK_PASSWORD": "hand-password",
        "PROXY_HOST": "my-bot.example.ngrok.app",
        # Nothing may leave loopback: the hand-started bot talks to the audit's fake.
        "BANDWIDTH_OAUTH_URL": f"http://127.0.0.1:{api_port}/api/v1/oauth2/token",
        "BANDWIDTH_VOICE_API_URL": f"http://127.0.0.1:{api_port}/api/v2",
    }
    with uvicorn_app(SPEAKER, env) as url:
        out = tmp_path / "report.json"
        args = ["--url", url, "--api-port", str(api_port)]
        done = bwsim(*args, "--only", "webhook", "--json", str(out), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    unset = checks["webhook.creds_unset"]
    assert (unset["status"], unset["passed"]) == ("skipped", False)
    assert "--app or --cmd" in unset["detail"]
    assert checks["webhook.auth"]["passed"] is True
    assert checks["webhook.bad_body"]["passed"] is True
