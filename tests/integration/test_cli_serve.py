"""``bwsim serve``: export lines first on stdout, a bot started by hand routed, ``-- COMMAND``."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from simulator.cli.serve import READY_LINE
from simulator.rest.intercept import RESOLVE_ENV_VAR
from simulator.runner.exports import export_lines
from tests.integration.bot_process import RUNNING_RE, OutputWatcher, free_port, stop

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "simulator" / "suite" / "audio"
TIMEOUT_S = 60.0
"""Generous bounds for a child to get somewhere; they only end a test that would hang."""

TINY_BOT = """\
import base64
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

BXML = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
USER = os.environ["BANDWIDTH_WEBHOOK_USERNAME"]
PASSWORD = os.environ["BANDWIDTH_WEBHOOK_PASSWORD"]
EXPECTED = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("authorization") != EXPECTED:
            self.send_response(401)
            self.send_header("www-authenticate", 'Basic realm="bot"')
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/xml")
        self.send_header("content-length", str(len(BXML)))
        self.end_headers()
        self.wfile.write(BXML)


server = HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Webhook)
print(f"tiny bot {os.getpid()} listening", flush=True)
server.serve_forever()
"""
"""A bot in a dozen lines: checks the webhook's Basic auth and hangs up; prints its pid."""


class Lines:
    """Reads a child's stream in a thread, so a test can wait for a line with a timeout."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.name = name
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def next_line(self, timeout_s: float = TIMEOUT_S) -> str | None:
        """The next line, or None once the stream has ended."""
        try:
            line = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"{self.name}: no line within {timeout_s} s") from None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, pattern: str, timeout_s: float = TIMEOUT_S) -> re.Match[str]:
        """The first line from now on matching ``pattern``; raises if the stream ends first."""
        deadline = time.monotonic() + timeout_s
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(
                    f"{self.name} ended before {pattern!r}:\n{''.join(self.seen[-30:])}"
                )
            if match := re.search(pattern, line):
                return match

    def rest(self) -> str:
        """Everything up to the end of the stream (the child has exited)."""
        while self.next_line() is not None:
            pass
        return "".join(self.seen)


class Serve:
    """A running ``bwsim serve``: its export block, its stderr lines, its exit."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        self.stdout = Lines(proc.stdout, "bwsim serve stdout")
        self.stderr = Lines(proc.stderr, "bwsim serve stderr")

    def export_block(self) -> list[str]:
        """The stdout lines up to and including the ready line."""
        lines = []
        while (line := self.stdout.next_line()) is not None:
            lines.append(line.rstrip("\n"))
            if line.rstrip("\n") == READY_LINE:
                return lines
        raise AssertionError(f"bwsim serve ended before {READY_LINE!r}:\n{self.stderr.rest()}")

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Send ``sig`` and wait for the exit code."""
        self.proc.send_signal(sig)
        return self.proc.wait(TIMEOUT_S)


def _export(block: list[str], name: str) -> str:
    """The value of ``export NAME=value`` in serve's block (these values need no quotes)."""
    return next(line.split("=", 1)[1] for line in block if line.startswith(f"export {name}="))


def _token(block: list[str]) -> dict[str, str]:
    """The control API's token header, from the token serve exports."""
    return {"Authorization": f"Bearer {_export(block, 'BWSIM_CONTROL_TOKEN')}"}


def _clean_env(**extra: str) -> dict[str, str]:
    """Our environment without any bot or bwsim settings, plus ``extra``."""
    prefixes = ("BANDWIDTH_", "BOT_", "BWSIM_", "PORT", "PROXY_HOST", "PYTHONPATH")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**base, **extra}


@contextmanager
def serve(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Iterator[Serve]:
    """Start ``bwsim serve ARGS`` and kill it in the end if the test did not stop it."""
    with subprocess.Popen(
        [sys.executable, "-m", "simulator.cli.main", "serve", *args],
        cwd=cwd,
        env=env if env is not None else _clean_env(PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            yield Serve(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT_S)


def sh_eval(block: list[str], script: str, **env: str) -> str:
    """Run ``script`` in ``sh`` after ``eval``-ing the export lines; return its stdout."""
    return subprocess.run(
        ["sh", "-c", f'eval "$BWSIM_EXPORTS"\n{script}'],
        env=_clean_env(BWSIM_EXPORTS="\n".join(block), **env),
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT_S,
    ).stdout


def test_export_lines_are_first_on_stdout_and_sh_evaluates_them(tmp_path: Path) -> None:
    """Every stdout line up to the ready line is an export sh evaluates; they buy a token."""
    env_file = tmp_path / "bwsim.env"
    with serve("--env-file", str(env_file)) as s:
        block = s.export_block()
        assert all(line.startswith("export ") for line in block[:-1]), block
        names = {line.split("=", 1)[0].removeprefix("export ") for line in block[:-1]}
        assert {
            "BANDWIDTH_CLIENT_ID",
            "BANDWIDTH_CLIENT_SECRET",
            "BANDWIDTH_WEBHOOK_USERNAME",
            "BANDWIDTH_WEBHOOK_PASSWORD",
            "BANDWIDTH_ACCOUNT_ID",
            "BANDWIDTH_OAUTH_URL",
            "BANDWIDTH_VOICE_API_URL",
            "BWSIM_CONTROL_URL",
            "BWSIM_CONTROL_TOKEN",
            "PROXY_HOST",
            "PYTHONPATH",
            "BWSIM_INTERCEPT",
        } <= names
        out = sh_eval(
            block,
            'printf "%s\\n" "$PYTHONPATH" "$BWSIM_INTERCEPT" "$BANDWIDTH_OAUTH_URL" '
            '"$BANDWIDTH_CLIENT_ID" "$BANDWIDTH_CLIENT_SECRET"',
            PYTHONPATH="/the/users/own/path",
        )
        pythonpath, intercept, oauth_url, client_id, secret = out.splitlines()
        assert pythonpath.endswith("_bootstrap:/the/users/own/path")  # the user's path is kept
        assert (Path(pythonpath.split(":")[0]) / "sitecustomize.py").is_file()
        assert json.loads(intercept)["api"] in oauth_url
        r = httpx.post(
            oauth_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
        )
        assert r.status_code == 200
        # The env file holds the same lines, ready before the stdout block.
        sourced = sh_eval([f". {env_file}"], 'printf %s "$BANDWIDTH_CLIENT_SECRET"')
        assert sourced == secret
        assert s.stop() == 0
    assert not env_file.exists()  # its credentials died with the server


def test_export_lines_quote_values_so_sh_reads_them_back_unchanged() -> None:
    """A value with quotes, spaces and $ comes back from sh exactly as it went in."""
    tricky = 'it\'s a "secret" with $HOME and `date`; rm -rf /'
    intercept = {
        "PYTHONPATH": "/boot strap",
        "BWSIM_INTERCEPT": "{}",
        "NO_PROXY": "api.bandwidth.com",
        "no_proxy": "api.bandwidth.com",
    }
    block = export_lines({"BANDWIDTH_CLIENT_SECRET": tricky}, intercept, READY_LINE)
    out = sh_eval(block, 'printf "%s\\n%s" "$BANDWIDTH_CLIENT_SECRET" "$PYTHONPATH"')
    assert out == f"{tricky}\n/boot strap"  # no PYTHONPATH before: no trailing ':'


def test_unmodified_bot_started_by_hand_reaches_only_the_fake() -> None:
    """A hand-started bot's hard-coded api/voice.bandwidth.com token and transfer reach the fake."""
    bot_port = free_port()
    with serve("--port", "0", "--bot-port", str(bot_port)) as s:
        block = s.export_block()
        # The bot's own defaults are https://api.bandwidth.com/... and
        # https://voice.bandwidth.com/...: drop the URL variables so those are what it calls.
        script = 'unset BANDWIDTH_OAUTH_URL BANDWIDTH_VOICE_API_URL\nexec "$PYTHON" -m bot'
        with subprocess.Popen(
            ["sh", "-c", f'eval "$BWSIM_EXPORTS"\n{script}'],
            cwd=ROOT,
            env=_clean_env(BWSIM_EXPORTS="\n".join(block), PYTHON=sys.executable),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as bot:
            watcher = OutputWatcher(bot, "python -m bot (by hand)")
            try:
                url = watcher.wait_for(RUNNING_RE, TIMEOUT_S)[1]
                control = _export(block, "BWSIM_CONTROL_URL")
                # The packaged recording, as the README names it; its transcript is what
                # the bot's scripted STT hears ("... speak to a person ...").
                body = {
                    "url": url,
                    "audio": "bwsim:audio/person.wav",
                    # Hang up only after 20 s of bot quiet: the transfer ends the call long
                    # before, however slowly a loaded machine lets the bot answer.
                    "linger_ms": 20_000,
                    "max_call_s": 40,
                }
                r = httpx.post(f"{control}/calls", json=body, headers=_token(block), timeout=90)
            finally:
                stop(bot)
                watcher.join()
        assert r.status_code == 200
        summary = r.json()
        log = "".join(watcher.lines)
        assert summary["passed"] is True, (summary["problems"], log)
        call_id = summary["call"]["callId"]
        requests = [(e["method"], e["path"], e["status"]) for e in summary["api_requests"]]
        assert ("POST", "/api/v1/oauth2/token", 200) in requests, (requests, log)
        transfers = [q for q in requests if q[0] == "PUT" and q[1].endswith("/bxml")]
        assert transfers, (requests, log)
        assert all(call_id in path and status < 300 for _, path, status in transfers)
        ended = [e for e in summary["events"] if e["type"] == "transfer-ended"]
        assert [(e["bridged"], e["cause"]) for e in ended] == [(True, "hangup")], ended
        assert summary["violations"] == []
        assert s.stop() == 0
        assert "REFUSED" not in s.stderr.rest()


def test_a_bot_reaching_another_host_is_refused_and_reported() -> None:
    """A bot started with the exports that connects elsewhere is refused; serve exits 1."""
    reach = (
        "import socket, threading\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
        "except OSError as exc:\n"
        "    print('refused:', exc, flush=True)\n"
        "threading.Event().wait()\n"
    )
    with serve("--", sys.executable, "-c", reach) as s:
        s.export_block()
        s.stderr.wait_for(r"bot\| refused:")
        s.stderr.wait_for(r"REFUSED: .*'192\.0\.2\.1'")
        assert s.stop() == 1
        assert "blocked-request" in s.stderr.rest()


TOKEN_BY_HAND = """\
import os
import httpx

try:
    r = httpx.post(
        "https://api.bandwidth.com/api/v1/oauth2/token",
        auth=(os.environ["BANDWIDTH_CLIENT_ID"], os.environ["BANDWIDTH_CLIENT_SECRET"]),
        data={"grant_type": "client_credentials"},
        timeout=30,
    )
    print("token", r.status_code)
except Exception as exc:
    print("failed", type(exc).__name__)
"""
"""A bot's token request as httpx makes it by default: through ``HTTPS_PROXY`` if set."""


@pytest.mark.parametrize("keep_no_proxy", [True, False], ids=["exported", "dropped"])
def test_a_bot_behind_an_https_proxy_still_reaches_the_fake(keep_no_proxy: bool) -> None:
    """The exports' NO_PROXY keeps Bandwidth's requests off the user's proxy, onto the fake."""
    with serve() as s:
        block = s.export_block()
        if not keep_no_proxy:  # what a bot got before NO_PROXY was exported
            block = [line for line in block if "no_proxy=" not in line.lower()]
        exported = sh_eval(block, 'printf "%s\\n%s" "$NO_PROXY" "$no_proxy"').splitlines()
        # A company laptop's proxy (TEST-NET-1: nothing there; the hooks refuse it anyway).
        out = sh_eval(
            block,
            f'"$PYTHON" -c {shlex.quote(TOKEN_BY_HAND)}',
            PYTHON=sys.executable,
            HTTPS_PROXY="http://192.0.2.1:3128",
        )
        if keep_no_proxy:
            assert exported[0] == exported[1], exported
            assert {"api.bandwidth.com", "voice.bandwidth.com", "127.0.0.1"} <= set(
                exported[0].split(",")
            )
            assert out.strip() == "token 200", out
            assert s.stop() == 0
        else:
            assert out.strip() == "failed ConnectError", out  # httpx's name for the refusal
            s.stderr.wait_for(r"REFUSED: .*'192\.0\.2\.1'")
            assert s.stop() == 1


PROVIDER_PROBE = """\
import socket
import sys
import threading

for name in ("provider.test", "other.test"):
    try:
        socket.create_connection((name, int(sys.argv[1])), timeout=10).close()
        print(name, "reached", flush=True)
    except OSError as exc:
        print(name, "refused", type(exc).__name__, flush=True)
threading.Event().wait()
"""
"""A bot that connects to its speech provider (provider.test) and to another host."""


@pytest.mark.parametrize("allowed", [True, False], ids=["allowed", "not-allowed"])
def test_allow_host_lets_the_bot_serve_runs_reach_that_provider_only(allowed: bool) -> None:
    """With --allow-host provider.test, the bot serve runs reaches it; other.test stays refused."""
    with socket.create_server(("127.0.0.1", 0)) as provider:
        port = provider.getsockname()[1]
        names = json.dumps({"provider.test": "127.0.0.1", "other.test": "127.0.0.1"})
        env = _clean_env(PYTHONPATH=str(ROOT), **{RESOLVE_ENV_VAR: names})
        flags = ["--allow-host", "provider.test"] if allowed else []
        command = ["--", sys.executable, "-c", PROVIDER_PROBE, str(port)]
        with serve(*flags, *command, env=env) as s:
            s.export_block()
            first = s.stderr.wait_for(r"bot\| provider\.test (\w+)")[1]
            second = s.stderr.wait_for(r"bot\| other\.test (\w+)")[1]
            s.stderr.wait_for(r"REFUSED: .*'other\.test'.* --allow-host other\.test")
            assert s.stop() == 1  # the bot reached for a host it was not allowed
            err = s.stderr.rest()
    assert second == "refused"
    assert first == ("reached" if allowed else "refused")
    assert ("(--allow-host): provider.test" in err) == allowed


def test_serve_runs_the_bot_places_a_call_and_stops_it(tmp_path: Path) -> None:
    """With -- COMMAND, serve starts the bot with the exports; a call works; SIGTERM stops both."""
    (tmp_path / "tiny.py").write_text(TINY_BOT)
    bot_port = free_port()
    with serve("--bot-port", str(bot_port), "--", sys.executable, "tiny.py", cwd=tmp_path) as s:
        block = s.export_block()
        pid = int(s.stderr.wait_for(r"bot\| tiny bot (\d+) listening")[1])
        control = _export(block, "BWSIM_CONTROL_URL")
        body = {"url": f"http://127.0.0.1:{bot_port}", "max_call_s": 20}
        r = httpx.post(f"{control}/calls", json=body, headers=_token(block), timeout=TIMEOUT_S)
        assert r.status_code == 200
        assert r.json()["webhook"]["status"] == 200, r.json()
        assert r.json()["passed"] is True, r.json()["problems"]
        assert s.stop(signal.SIGTERM) == 0, s.stderr.rest()
        assert f"bot stopped (pid {pid}" in s.stderr.rest()
    with pytest.raises(ProcessLookupError):  # serve reaped it before exiting
        os.kill(pid, 0)


def test_reload_restarts_the_bot_when_a_py_file_changes(tmp_path: Path) -> None:
    """With --reload, editing a .py file under the folder stops the bot and starts a new one."""
    (tmp_path / "tiny.py").write_text(TINY_BOT)
    with serve(
        "--bot-port", str(free_port()), "--reload", "--", sys.executable, "tiny.py", cwd=tmp_path
    ) as s:
        s.export_block()
        s.stderr.wait_for(r"--reload: watching")
        first = int(s.stderr.wait_for(r"bot\| tiny bot (\d+) listening")[1])
        (tmp_path / "tiny.py").write_text(TINY_BOT + "# edited\n")
        s.stderr.wait_for(r"--reload: tiny\.py changed; restarting the bot")
        second = int(s.stderr.wait_for(r"bot\| tiny bot (\d+) listening")[1])
        assert second != first
        with pytest.raises(ProcessLookupError):  # the first was stopped and reaped
            os.kill(first, 0)
        assert s.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_a_bot_that_exits_at_once_is_reported_with_its_code_and_output(tmp_path: Path) -> None:
    """Without --reload, a bot exiting by itself ends serve with exit 1, its code and last lines."""
    crash = "import sys; print('missing DEEPGRAM_API_KEY', flush=True); sys.exit(3)"
    with serve("--", sys.executable, "-c", crash, cwd=tmp_path) as s:
        s.export_block()
        assert s.proc.wait(TIMEOUT_S) == 1
        err = s.stderr.rest()
    assert "the bot exited on its own with code 3" in err
    assert "  missing DEEPGRAM_API_KEY" in err  # in the tail under the message


def test_reload_without_a_command_is_a_usage_error() -> None:
    """--reload with no command after -- exits 2 with a message saying what to give."""
    with serve("--reload") as s:
        assert s.proc.wait(TIMEOUT_S) == 2
        assert "give its command after `--`" in s.stderr.rest()


def test_reload_restarts_a_bot_that_crashed_once_it_is_fixed(tmp_path: Path) -> None:
    """With --reload, a bot that exits is reported, serve keeps running, and a fix restarts it."""
    (tmp_path / "tiny.py").write_text("import sys\nprint('typo here', flush=True)\nsys.exit(4)\n")
    with serve(
        "--bot-port", str(free_port()), "--reload", "--", sys.executable, "tiny.py", cwd=tmp_path
    ) as s:
        s.export_block()
        s.stderr.wait_for(r"the bot exited on its own with code 4")
        s.stderr.wait_for(r"restarting it on the next change")
        (tmp_path / "tiny.py").write_text(TINY_BOT)
        s.stderr.wait_for(r"bot\| tiny bot (\d+) listening")
        assert s.stop() == 0


def test_a_command_that_cannot_be_started_is_a_usage_error(tmp_path: Path) -> None:
    """A bot command that does not exist exits 2 naming it, and leaves no env file behind."""
    env_file = tmp_path / "bwsim.env"
    with serve("--env-file", str(env_file), "--", str(tmp_path / "no-such-bot")) as s:
        assert s.proc.wait(TIMEOUT_S) == 2
        err = s.stderr.rest()
    assert "cannot start the bot command" in err
    assert "no-such-bot" in err
    assert not env_file.exists()


ENV_BOT = (
    "import os; g = os.environ.get; "
    "print('env', g('OPENAI_API_KEY', '-'), g('REDIS_URL', '-'), "
    "bool(g('BWSIM_CONTROL_TOKEN')), g('BANDWIDTH_ACCOUNT_ID', '-') != '-', flush=True)"
)


@pytest.mark.parametrize(
    ("passed", "seen"), [((), "env - - True True"), (("OPENAI_API_KEY",), "env sk-dev - True True")]
)
def test_the_bot_serve_starts_gets_a_clean_environment(
    passed: tuple[str, ...], seen: str, tmp_path: Path
) -> None:
    """-- COMMAND: a developer's OPENAI_API_KEY, REDIS_URL stay out unless --pass-env names one."""
    env = _clean_env(PYTHONPATH=str(ROOT), OPENAI_API_KEY="sk-dev", REDIS_URL="redis://x:1/0")
    flags = [arg for name in passed for arg in ("--pass-env", name)]
    with serve(*flags, "--", sys.executable, "-c", ENV_BOT, cwd=tmp_path, env=env) as s:
        s.export_block()
        line = s.stderr.wait_for(r"bot\| (env .*)")[1]
        assert s.proc.wait(TIMEOUT_S) == 1  # the bot exited on its own
        err = s.stderr.rest()
    assert line == seen
    assert f"(--pass-env): {', '.join(passed) or 'nothing'}" in err
