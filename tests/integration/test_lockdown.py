"""The control API takes requests from the run's own parts only, and no record keeps a secret.

A web page the developer has open can send requests to loopback: each of the ways it
would (no token, a ``text/plain`` "simple" POST, a rebound ``Host``) is refused on its
own, with a status and a description that says what to do. A call whose bot uses every
kind of secret (Basic webhook credentials, a form-posted client secret, a Bearer token,
BXML passwords) leaves none of them in its artifacts or in ``GET /_bwsim/journal``. And
a bot bwsim starts sees a developer's ``OPENAI_API_KEY`` only when it is passed by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from simulator import AppTarget, CallOptions, Harness, LiveCall
from simulator.runner import control_api
from simulator.runner.targets import PASS_ENV_VAR
from simulator.suite import AUDIO_DIR

ROOT = Path(__file__).resolve().parents[2]
CALL = {"url": "http://127.0.0.1:9", "audio": "bwsim:audio/hello.wav"}


def _client(h: Harness, **headers: str) -> httpx.AsyncClient:
    """A client of the control API that sends the run's token unless told otherwise."""
    sent = {"Authorization": f"Bearer {h.app.control_token}", **headers}
    return httpx.AsyncClient(base_url=h.api_base, headers=sent, trust_env=False, timeout=10)


@pytest.mark.parametrize(
    ("headers", "status", "kind", "said"),
    [
        ({"Authorization": ""}, 401, "unauthorized", "needs this run's token"),
        ({"Authorization": "Bearer not-the-token"}, 401, "unauthorized", "a wrong Bearer token"),
        ({"Content-Type": "text/plain"}, 415, "unsupported-media-type", "takes JSON only"),
        ({"Host": "attacker.example:80"}, 403, "forbidden", "for a loopback host only"),
        ({"Origin": "https://attacker.example"}, 403, "forbidden", "not for web pages"),
    ],
    ids=["no-token", "wrong-token", "text-plain", "foreign-host", "foreign-origin"],
)
async def test_a_page_style_request_to_the_control_api_is_refused(
    headers: dict[str, str], status: int, kind: str, said: str
) -> None:
    """Each way a page would reach /_bwsim/calls is refused on its own, saying what to do."""
    async with Harness() as h:
        control_api.install(h)
        sent = {"Content-Type": "application/json", **headers}
        async with _client(h) as client:
            r = await client.post("/_bwsim/calls", content=json.dumps(CALL), headers=sent)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["type"] == kind
        assert said in body["description"]
        assert not h.fake.registry.calls  # no call was placed


async def test_every_control_route_needs_the_token_and_answers_with_it() -> None:
    """GET /_bwsim/journal, health and caller lines: 401 without the token, 200 with it."""
    async with Harness() as h, _client(h) as client:
        for path in ("/_bwsim/journal", "/_bwsim/health", "/_bwsim/calls/c-1/caller-lines"):
            refused = await client.get(path, headers={"Authorization": ""})
            assert refused.status_code == 401, path
            assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"out": "../elsewhere"}, "under serve's working directory"),
        ({"out": "/tmp/bwsim-anywhere"}, "under serve's working directory"),
        ({"max_call_s": float("nan")}, "max_call_s must be a number of seconds above 0"),
        ({"max_call_s": -1}, "max_call_s must be a number of seconds above 0"),
        ({"max_call_s": 1e12}, "at most 3600"),
        ({"max_call_s": "30"}, "max_call_s must be a number"),
        ({"linger_ms": 0}, "linger_ms must be a number of milliseconds above 0"),
        ({"linger_ms": float("inf")}, "linger_ms must be a number of milliseconds above 0"),
    ],
    ids=["out-up", "out-absolute", "nan", "negative", "absurd", "string", "linger-0", "inf"],
)
async def test_a_call_request_out_of_bounds_is_refused(
    change: dict[str, object], said: str
) -> None:
    """``out`` outside the working directory and limits that are not finite and positive: 400."""
    async with Harness() as h:
        control_api.install(h)
        # json.dumps writes NaN and Infinity, which Python's json reads back as floats
        body = json.dumps({**CALL, **change})
        async with _client(h, **{"Content-Type": "application/json"}) as client:
            r = await client.post("/_bwsim/calls", content=body)
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "validation"
        assert said in r.json()["description"]


async def test_unreadable_audio_gets_one_error_whether_or_not_the_path_exists(
    tmp_path: Path,
) -> None:
    """A missing file and a file that is not audio get the same answer: no probing of paths."""
    text = tmp_path / "notes.txt"
    text.write_text("not audio", encoding="utf-8")
    answers = []
    async with Harness() as h:
        control_api.install(h)
        async with _client(h, **{"Content-Type": "application/json"}) as client:
            for audio in (str(text), str(tmp_path / "missing.wav")):
                r = await client.post("/_bwsim/calls", json={**CALL, "audio": audio})
                assert r.status_code == 400, r.text
                answers.append(r.json()["description"].replace(audio, "PATH"))
    assert answers[0] == answers[1]
    assert "cannot be used as the caller's recording" in answers[0]


async def test_a_stereo_recording_needs_its_channel_named(tmp_path: Path) -> None:
    """A stereo file without "channel" is refused saying so; with it the call is placed."""
    stereo = tmp_path / "two.wav"
    sf.write(stereo, np.zeros((800, 2)), 8000, subtype="PCM_16")
    async with Harness() as h:
        control_api.install(h)
        async with _client(h, **{"Content-Type": "application/json"}) as client:
            bare = await client.post("/_bwsim/calls", json={**CALL, "audio": str(stereo)})
            wrong = {**CALL, "audio": str(stereo), "channel": "centre"}
            bad = await client.post("/_bwsim/calls", json=wrong)
            good = {**CALL, "audio": str(stereo), "channel": "left", "max_call_s": 5}
            placed = await client.post("/_bwsim/calls", json=good, timeout=60)
    assert bare.status_code == 400, bare.text
    assert 'needs "channel": "left"' in bare.json()["description"]
    assert bad.status_code == 400, bad.text
    assert "channel: a channel is left, right or a 0-based" in bad.json()["description"]
    assert placed.status_code == 200, placed.text  # the call was made (to a port with no bot)
    assert placed.json()["passed"] is False


async def _until_transferred(call: LiveCall) -> None:
    """The caller stays on the line until the bot has transferred the call."""
    await call.wait_for("transfer", timeout_ms=15_000)


async def test_no_artifact_of_a_call_holds_a_secret(tmp_path: Path) -> None:
    """Token, client secret, Basic and BXML passwords: in no artifact and not in the journal."""
    used = tmp_path / "secrets.json"
    out = tmp_path / "out"
    env = {"SECRETS_FILE": str(used)}
    async with Harness(AppTarget("tests.bots.secrets_bot:app", cwd=ROOT), bot_env=env) as h:
        result = await h.place_call(_until_transferred, options=CallOptions(max_call_s=20))
        async with _client(h) as client:
            journal = (await client.get("/_bwsim/journal")).text
        token = h.app.control_token
    result.write(out)
    secrets = json.loads(used.read_text(encoding="utf-8"))
    # The bot did get a token and transfer with it: the check below looks at real secrets.
    assert (secrets["token_status"], secrets["transfer"]) == (200, 204)
    assert result.events("transfer")
    values = {k: secrets[k] for k in secrets if isinstance(secrets[k], str)}
    assert values["access_token"] and values["control_token"] == token
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "call.wav"]
    assert {p.name for p in files} >= {"trace.jsonl", "summary.json", "timeline.json"}
    for name, value in values.items():
        for path in files:
            assert value not in path.read_text(encoding="utf-8"), f"{name} in {path.name}"
        assert value not in journal, f"{name} in GET /_bwsim/journal"
    # What is left says a secret was there: the transfer's BXML keeps its shape.
    bodies = {r["route"]: r["body"] for r in json.loads(journal)["requests"]}
    assert 'password="***"' in bodies["update_bxml"]
    assert "client_secret=***" in bodies["token"]


def _names(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").split())


async def test_a_developers_key_reaches_the_bot_only_when_passed_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPENAI_API_KEY and REDIS_URL in bwsim's environment stay out unless --pass-env names one."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-developer")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv(PASS_ENV_VAR, raising=False)
    target = AppTarget("tests.bots.env_bot:app", cwd=ROOT)
    clean, passed = tmp_path / "clean.txt", tmp_path / "passed.txt"
    async with Harness(target, bot_env={"ENV_NAMES_FILE": str(clean)}):
        pass
    monkeypatch.setenv(PASS_ENV_VAR, "OPENAI_API_KEY")  # what --pass-env OPENAI_API_KEY sets
    async with Harness(target, bot_env={"ENV_NAMES_FILE": str(passed)}):
        pass
    assert not {"OPENAI_API_KEY", "REDIS_URL"} & _names(clean)
    assert {"PATH", "BANDWIDTH_CLIENT_SECRET", "BWSIM_CONTROL_TOKEN"} <= _names(clean)
    assert "OPENAI_API_KEY" in _names(passed)
    assert "REDIS_URL" not in _names(passed)


def test_the_packaged_recording_the_requests_name_exists() -> None:
    """The call requests above name a recording that is there (their 400s are not about it)."""
    assert (AUDIO_DIR / "hello.wav").is_file()


def test_pass_env_on_the_command_line_passes_that_name_only(tmp_path: Path) -> None:
    """`bwsim call --pass-env NAME`: the bot gets NAME, not the developer's other keys."""
    names = tmp_path / "names.txt"
    env = {
        **os.environ,
        "ENV_NAMES_FILE": str(names),
        "OPENAI_API_KEY": "sk-developer",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    env.pop(PASS_ENV_VAR, None)
    args = ["call", "--app", "tests.bots.env_bot:app", "--audio", str(AUDIO_DIR / "hello.wav")]
    args += ["--pass-env", "ENV_NAMES_FILE", "--pass-env", "OPENAI_API_KEY"]
    args += ["--pass-env", "NOT_SET_ANYWHERE", "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=ROOT,
        check=False,
    )
    # The bot answers 404 to the webhook: the call fails (1), but the bot did start.
    assert done.returncode == 1, done.stdout + done.stderr
    assert {"OPENAI_API_KEY", "ENV_NAMES_FILE"} <= _names(names)
    assert "REDIS_URL" not in _names(names)
    assert "--pass-env NOT_SET_ANYWHERE: not set in this environment" in done.stderr


def test_pass_env_takes_a_name_not_an_assignment() -> None:
    """`--pass-env KEY=value` is a usage error (exit 2) that says to give the name only."""
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", "call", "--pass-env", "KEY=value"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert "is not a variable name: give the NAME only" in done.stderr


async def test_the_stand_ins_fetch_the_caller_lines_with_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stand-in STT sends $BWSIM_CONTROL_TOKEN; without a token it gets no lines."""
    from simulator.standins import fetch_caller_lines

    async with Harness() as h:
        h.fake.caller_lines["c-1"] = ["Hello there."]
        url = f"{h.api_base}/_bwsim"
        monkeypatch.setenv("BWSIM_CONTROL_TOKEN", h.app.control_token)
        assert await fetch_caller_lines(url, "c-1") == ["Hello there."]
        monkeypatch.delenv("BWSIM_CONTROL_TOKEN")
        assert await fetch_caller_lines(url, "c-1") is None


def test_bwsim_run_lists_the_names_passed_never_their_values(tmp_path: Path) -> None:
    """The run's summary and report.json name the variables passed on; no value shows."""
    suite = tmp_path / "one.yaml"
    suite.write_text(
        'call: {webhook_path: "/tone?keepalive=pause", max_call_s: 20}\n'
        "allow_violations: [webhook-auth]\n"
        "scenarios:\n"
        "  - name: tone\n"
        "    caller: [{wait_for: bot_speech_end}, hangup]\n"
        "    expect: [{ws_closed: {code: 1000, by: simulator}}]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    env = {**os.environ, "OPENAI_API_KEY": "sk-developer-value"}
    env.pop(PASS_ENV_VAR, None)
    args = ["run", str(suite), "--app", "tests.bots.raw_bot:app", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", *args, "--pass-env", "OPENAI_API_KEY"],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed to the bots from this environment: OPENAI_API_KEY" in done.stdout
    report = (out / "report.json").read_text(encoding="utf-8")
    assert json.loads(report)["passed_env"] == ["OPENAI_API_KEY"]
    assert "sk-developer-value" not in report + done.stdout + done.stderr
