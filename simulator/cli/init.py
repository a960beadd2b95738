"""``bwsim init``: set a bot's project up for bwsim, in the current folder or ``--dir``.

It writes a starter suite (``scenarios/starter.yaml``, commented, its caller speaking the
packaged recordings through ``audio_dir: bwsim:audio``, or copies of them in
``scenarios/audio/`` with ``--copy-audio``), a ``conftest.py`` whose ``bwsim_target``
fixture names the bot for pytest, an ``e2e`` session in ``noxfile.py`` and a GitHub
Actions workflow (``.github/workflows/bwsim.yml``) that runs it.

It never overwrites a file unless ``--force`` is given, and it never touches an existing
``noxfile.py`` (it holds the project's other sessions): it prints the session to paste
instead. It ends by listing what it wrote and skipped, and the command to run next.
A folder it cannot write is exit 2, with nothing half written that it does not name.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

from simulator.cli.options import EXIT_OK, EXIT_UNUSABLE, Subparsers
from simulator.runner.targets import AppTarget
from simulator.suite import AUDIO_DIR, AUDIO_DIR_NAME

__all__ = ["add_parser", "guess_app", "run", "write_project"]

DEFAULT_APP = "bot:app"
"""The bot named when ``--app`` is not given and no module in the folder defines ``app``."""
STARTER = Path("scenarios") / "starter.yaml"
AUDIO_COPY = Path("scenarios") / "audio"
CONFTEST = Path("conftest.py")
NOXFILE = Path("noxfile.py")
WORKFLOW = Path(".github") / "workflows" / "bwsim.yml"
NOT_BOTS = frozenset({"conftest.py", "noxfile.py", "setup.py"})

STARTER_YAML = """\
# A starter suite for your bot, written by `bwsim init`. Run it with
#   bwsim run scenarios/ --app {app}
# The packaged suite (greeting, conversation, barge-in, hang-ups, transfer, forged ids,
# stream tokens, webhook authentication, dropped stream) runs with no paths:
#   bwsim run --app {app}
# Every key is checked: a typo is an error naming the file, line and key.
#
# Where `say:` files are found: `bwsim:audio` is the recordings bwsim ships (hello.wav,
# question.wav, person.wav, goodbye.wav, monologue.wav, silence.wav, noisy.wav,
# quiet.wav, stereo_44k.wav); any other value is a folder relative to this file. A stereo
# file says which channel the caller speaks: say: {{file: stereo_44k.wav, channel: left}}.
audio_dir: {audio_dir}

scenarios:
  # The webhook answers with a bidirectional stream and keeps the call up; the caller
  # hears the bot soon after the socket opens, and the bot breaks no media rule.
  - name: greeting
    caller:
      - wait_for: bot_speech_end     # the greeting ends…
      - hangup: true                 # …and the caller hangs up
    expect:
      - webhook_response:
          {{status: 200, start_stream: {{mode: bidirectional}}, keeps_call_up: true}}
      - stream_accepted: {{within_ms: 3000}}
      - play_audio: {{after: stream_accepted, within_ms: 2000}}
      - violation: {{absent: true}}

  # One caller turn gets an answer. The words of each recording are in its
  # transcripts.yaml, for a bot whose speech-to-text is scripted; `text:` overrides them.
  - name: answers a question
    caller:
      - say: question.wav
        send_after: bot_speech_end   # speak once the greeting is over
      - wait_for: bot_speech_start   # the answer…
      - wait_for: bot_speech_end     # …to its end
      - hangup: true
    expect:
      - play_audio: {{after: caller_audio_end, within_ms: 4000}}

  # Talking over the bot makes it send `clear` while it speaks, then stay quiet.
  - name: barge-in
    caller:
      - say: monologue.wav
        send_after: bot_speech_start
        delay_ms: 300
      - stay: 6000
      - hangup: true
    expect:
      - clear: {{after: caller_audio_start, within_ms: 1500, bot_was_speaking: true}}
      - play_audio: {{after: clear, within_ms: 2000, min_audio_ms: 200, absent: true}}

  # The caller hangs up: the stream stops and closes with 1000, and the bot does not
  # retry a hang-up of a call that is already gone.
  - name: caller hangs up
    caller:
      - wait_for: bot_speech_start
      - silence: 500
      - hangup: true
    expect:
      - ws_closed: {{code: 1000, by: simulator}}
      - call_state: {{state: disconnected, cause: hangup}}
      - hangup_request: {{max_count: 1}}
"""

CONFTEST_PY = '''\
"""pytest setup for bwsim (written by `bwsim init`): the bot the bwsim fixtures call.

bwsim's pytest plugin is loaded by installing bwsim. A test takes the ``bwsim`` fixture,
places a call with ``await bwsim.call(caller)`` and judges it with ``bwsim.expect``.
"""

from pathlib import Path

import pytest

from simulator import AppTarget, Target

BOT_APP = "{app}"
"""Your bot's ASGI app, MODULE:ATTR, imported from this folder."""


@pytest.fixture(scope="session")
def bwsim_target() -> Target:
    """The bot under test, served by bwsim with uvicorn on loopback."""
    return AppTarget(BOT_APP, cwd=Path(__file__).resolve().parent)


@pytest.fixture(scope="session")
def bwsim_bot_env() -> dict[str, str]:
    """Extra environment for the bot, on top of the Bandwidth settings bwsim gives it."""
    return {{}}
'''

NOX_SESSION = '''\
@nox.session(venv_backend="none")
def e2e(session: nox.Session) -> None:
    """bwsim: your scenarios, then the packaged suite, against the bot (exit 1 on a failure).

    It runs in the environment nox is started from, where the bot's dependencies and
    bwsim are installed; the reports, calls and pictures are in bwsim-out/.
    """
    app = "{app}"
    session.run("bwsim", "run", "scenarios/", "--app", app, "--out", "bwsim-out/scenarios")
    session.run("bwsim", "run", "--app", app, "--out", "bwsim-out/suite")
'''

NOXFILE_PY = (
    '''\
"""nox sessions (written by `bwsim init`); `nox -s e2e` tests the bot with bwsim."""

import nox


'''
    + NOX_SESSION
)

WORKFLOW_HEAD = """\
# bwsim: the bot against a simulated Bandwidth, on every push and pull request (written
# by `bwsim init`). Nothing reaches beyond the runner: no Bandwidth account, no secrets.
name: bwsim

on:
  push:
  pull_request:

jobs:
  e2e:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
"""

WORKFLOW_UV = """\
      - uses: astral-sh/setup-uv@v6
        with:
          python-version: "3.11"
      # bwsim is a dev dependency of the project (`uv add --dev`), so sync installs it.
      - run: uv sync --locked
      - run: uv run --with nox nox -s e2e
"""

WORKFLOW_PIP = """\
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      # Install the bot's dependencies and bwsim (it must be among what this installs).
      - run: python -m pip install {install}nox
      - run: nox -s e2e
"""

WORKFLOW_TAIL = """\
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: bwsim-out
          path: bwsim-out/
"""


@dataclass
class Outcome:
    """What ``bwsim init`` did: files written and skipped, and the snippet to paste."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    nox_snippet: str | None = None
    nox_kept: bool = False
    """``noxfile.py`` existed with an ``e2e`` session and was left as it is."""


def guess_app(folder: Path) -> str | None:
    """``MODULE:app`` when exactly one top-level module of ``folder`` assigns ``app``."""
    found: list[str] = []
    for path in sorted(folder.glob("*.py")):
        if path.name in NOT_BOTS:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id == "app" for t in targets):
                found.append(f"{path.stem}:app")
                break
    return found[0] if len(found) == 1 else None


def _has_e2e_session(noxfile: Path) -> bool:
    """Whether ``noxfile`` already defines a function ``e2e`` (as the one init writes)."""
    try:
        tree = ast.parse(noxfile.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return False
    return any(isinstance(n, ast.FunctionDef) and n.name == "e2e" for n in tree.body)


def _workflow(folder: Path) -> str:
    if (folder / "uv.lock").is_file():
        steps = WORKFLOW_UV
    else:
        # With neither file there is nothing to name: the step installs nox alone and its
        # comment says what to add (guessing a package name could install a stranger's).
        install = (
            "-r requirements.txt "
            if (folder / "requirements.txt").is_file()
            else ". "
            if (folder / "pyproject.toml").is_file()
            else ""
        )
        steps = WORKFLOW_PIP.format(install=install)
    return WORKFLOW_HEAD + steps + WORKFLOW_TAIL


def _files(folder: Path, app: str, copy_audio: bool) -> dict[Path, str]:
    audio_dir = AUDIO_COPY.name if copy_audio else AUDIO_DIR_NAME
    return {
        STARTER: STARTER_YAML.format(app=app, audio_dir=audio_dir),
        CONFTEST: CONFTEST_PY.format(app=app),
        WORKFLOW: _workflow(folder),
    }


def _write(folder: Path, rel: Path, content: bytes, force: bool, out: Outcome) -> None:
    path = folder / rel
    if path.exists() and not force:
        out.skipped.append(rel)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    out.written.append(rel)


def write_project(
    folder: Path,
    app: str,
    *,
    force: bool = False,
    copy_audio: bool = False,
    out: Outcome | None = None,
) -> Outcome:
    """Write the starter files into ``folder``; raises OSError when it cannot be written.

    ``out`` (a fresh one if not given) records each file as it is written, so a caller
    can say what was written before an error.
    """
    out = out if out is not None else Outcome()
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in _files(folder, app, copy_audio).items():
        _write(folder, rel, text.encode(), force, out)
    if copy_audio:
        for source in sorted(AUDIO_DIR.iterdir()):
            if source.suffix in (".wav", ".yaml"):
                _write(folder, AUDIO_COPY / source.name, source.read_bytes(), force, out)
    if (folder / NOXFILE).exists():
        if _has_e2e_session(folder / NOXFILE):
            out.nox_kept = True
        else:
            out.nox_snippet = NOX_SESSION.format(app=app)
    else:
        _write(folder, NOXFILE, NOXFILE_PY.format(app=app).encode(), force, out)
    return out


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim init`` and its options to the CLI's subcommands."""
    init = sub.add_parser(
        "init",
        help="set a bot's project up for bwsim: starter scenarios, conftest, nox, CI",
        description=(
            "Write a starter suite (scenarios/starter.yaml), a conftest.py with the "
            "bwsim_target fixture, an e2e session in noxfile.py and a GitHub Actions "
            "workflow (.github/workflows/bwsim.yml). Existing files are skipped unless "
            "--force; an existing noxfile.py is never changed (the session to add is "
            "printed)."
        ),
    )
    init.add_argument(
        "--dir", default=".", help="the project's folder (default: the current folder)"
    )
    init.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        default=None,
        help=(
            "the bot's ASGI app, imported from the folder (default: the one top-level "
            f"module that defines `app`, else {DEFAULT_APP})"
        ),
    )
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument(
        "--copy-audio",
        action="store_true",
        help=f"copy the packaged recordings into {AUDIO_COPY}/ instead of using {AUDIO_DIR_NAME}",
    )


def _report(folder: Path, app: str, guessed: bool, out: Outcome) -> None:
    where = "" if folder.resolve() == Path.cwd().resolve() else f" in {folder}"
    for rel in out.written:
        print(f"bwsim init: wrote {rel}")
    for rel in out.skipped:
        print(f"bwsim init: skipped {rel} (it exists; --force overwrites it)")
    if out.nox_kept:
        print(f"bwsim init: left {NOXFILE} as it is (it has an e2e session)")
    if out.nox_snippet is not None:
        print(
            f"bwsim init: {NOXFILE} exists and was left as it is; add this session to it "
            "(it needs `import nox`):\n"
        )
        print(out.nox_snippet)
    if not guessed:
        print(
            f"bwsim init: the bot is named {app} (no --app given, and no single module here "
            "defines `app`); if it lives elsewhere, run again with --app MODULE:ATTR --force"
        )
    commands = [
        (f"bwsim run --app {app}", "the packaged suite against your bot"),
        (f"bwsim run scenarios/ --app {app}", "the starter scenarios"),
        ("nox -s e2e", "both, as the CI workflow runs them"),
    ]
    width = max(len(c) for c, _ in commands)
    print(f"\nNext{where}:")
    for command, why in commands:
        print(f"  {command.ljust(width)}   # {why}")


def run(args: argparse.Namespace) -> int:
    """Run ``bwsim init`` with parsed arguments; returns the exit code."""
    folder = Path(args.dir)
    app = args.app or (guess_app(folder) if folder.is_dir() else None)
    guessed = app is not None
    app = app or DEFAULT_APP
    AppTarget(app)  # refuses a name that is not MODULE:ATTR (TargetError: exit 2)
    out = Outcome()
    try:
        write_project(folder, app, force=args.force, copy_audio=args.copy_audio, out=out)
    except OSError as exc:
        done = ", ".join(str(p) for p in out.written) or "nothing"
        print(
            f"bwsim init: cannot write {exc.filename or folder}: {exc.strerror or exc}. "
            f"Written before that: {done}. Run it in a folder you can write, or name one "
            "with --dir.",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    _report(folder, app, guessed, out)
    return EXIT_OK
