"""``bwsim init``: the files it writes, what it refuses to overwrite, and how it says so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from simulator.cli.init import guess_app
from simulator.cli.main import main
from simulator.judge.scenario import load_scenarios
from simulator.suite import AUDIO_DIR

BOT = "from fastapi import FastAPI\n\napp = FastAPI()\n"
WRITTEN = [
    "scenarios/starter.yaml",
    "conftest.py",
    ".github/workflows/bwsim.yml",
    "noxfile.py",
]


def _init(tmp_path: Path, *args: str) -> int:
    return main(["init", "--dir", str(tmp_path), *args])


def test_init_writes_the_starter_files_and_names_the_next_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a folder holding only the bot, every starter file is written and the run named."""
    (tmp_path / "theirbot.py").write_text(BOT)
    assert _init(tmp_path) == 0
    out = capsys.readouterr().out
    for rel in WRITTEN:
        assert (tmp_path / rel).is_file(), rel
        assert f"wrote {Path(rel)}" in out
    assert "bwsim run --app theirbot:app" in out
    assert 'BOT_APP = "theirbot:app"' in (tmp_path / "conftest.py").read_text()
    assert 'app = "theirbot:app"' in (tmp_path / "noxfile.py").read_text()


def test_init_never_overwrites_a_file_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing conftest.py is kept and named as skipped; the other files are written."""
    (tmp_path / "conftest.py").write_text("# mine\n")
    assert _init(tmp_path, "--app", "mybot:app") == 0
    out = capsys.readouterr().out
    assert (tmp_path / "conftest.py").read_text() == "# mine\n"
    assert "skipped conftest.py (it exists; --force overwrites it)" in out
    assert (tmp_path / "scenarios" / "starter.yaml").is_file()


def test_force_overwrites_the_files_init_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --force an existing starter file is replaced by the one init writes."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "starter.yaml").write_text("old\n")
    assert _init(tmp_path, "--app", "mybot:app", "--force") == 0
    assert "wrote scenarios/starter.yaml" in capsys.readouterr().out
    assert "bwsim:audio" in (tmp_path / "scenarios" / "starter.yaml").read_text()


def test_an_existing_noxfile_is_left_alone_and_the_session_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A project's noxfile.py is not touched, even with --force; the e2e session is printed."""
    mine = "import nox\n\n\n@nox.session\ndef lint(session):\n    pass\n"
    (tmp_path / "noxfile.py").write_text(mine)
    assert _init(tmp_path, "--app", "mybot:app", "--force") == 0
    out = capsys.readouterr().out
    assert (tmp_path / "noxfile.py").read_text() == mine
    assert "noxfile.py exists and was left as it is" in out
    snippet = out[out.index("@nox.session(venv_backend") : out.index("\nNext")]
    pasted = ast.parse(mine + "\n\n" + snippet)
    assert [f.name for f in pasted.body if isinstance(f, ast.FunctionDef)] == ["lint", "e2e"]


def test_a_noxfile_with_an_e2e_session_gets_no_snippet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running init twice does not print the session the first run already wrote."""
    assert _init(tmp_path, "--app", "mybot:app") == 0
    capsys.readouterr()
    assert _init(tmp_path, "--app", "mybot:app") == 0
    out = capsys.readouterr().out
    assert "@nox.session" not in out
    assert "left noxfile.py as it is (it has an e2e session)" in out


@pytest.mark.parametrize("copy_audio", [False, True])
def test_the_starter_scenarios_load_and_name_only_existing_audio(
    tmp_path: Path, copy_audio: bool
) -> None:
    """The written suite passes the scenario loader; every say: file exists where it points."""
    assert _init(tmp_path, "--app", "mybot:app", *(["--copy-audio"] if copy_audio else [])) == 0
    scenarios = load_scenarios([tmp_path / "scenarios"])
    assert len(scenarios) >= 3
    says = [a for s in scenarios for a in s.caller if a.kind == "say"]
    assert says
    home = tmp_path / "scenarios" / "audio" if copy_audio else AUDIO_DIR
    for action in says:
        assert action.audio is not None
        assert action.audio.is_file()
        assert action.audio.parent == home.resolve()
        assert action.text  # the words, from transcripts.yaml beside the recording


def test_copy_audio_copies_every_recording_and_its_transcripts(tmp_path: Path) -> None:
    """--copy-audio puts each packaged recording and transcripts.yaml into scenarios/audio/."""
    assert _init(tmp_path, "--app", "mybot:app", "--copy-audio") == 0
    copied = sorted(p.name for p in (tmp_path / "scenarios" / "audio").iterdir())
    packaged = sorted(p.name for p in AUDIO_DIR.iterdir() if p.suffix in (".wav", ".yaml"))
    assert copied == packaged
    assert "transcripts.yaml" in copied


def test_the_written_python_files_compile(tmp_path: Path) -> None:
    """conftest.py and noxfile.py are valid Python; conftest defines the bwsim_target fixture."""
    assert _init(tmp_path, "--app", "mybot:app") == 0
    for name in ("conftest.py", "noxfile.py"):
        compile((tmp_path / name).read_text(), name, "exec")
    tree = ast.parse((tmp_path / "conftest.py").read_text())
    names = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)]
    assert "bwsim_target" in names


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("uv.lock", ["uv sync --locked", "uv run --with nox nox -s e2e"]),
        ("requirements.txt", ["python -m pip install -r requirements.txt nox", "nox -s e2e"]),
        ("pyproject.toml", ["python -m pip install . nox", "nox -s e2e"]),
        ("README.md", ["python -m pip install nox", "nox -s e2e"]),
    ],
)
def test_the_workflow_installs_the_way_the_project_does(
    tmp_path: Path, marker: str, expected: list[str]
) -> None:
    """The workflow runs nox -s e2e after the install the project's files point to."""
    (tmp_path / marker).write_text("")
    assert _init(tmp_path, "--app", "mybot:app") == 0
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "bwsim.yml").read_text())
    runs = [step["run"] for step in workflow["jobs"]["e2e"]["steps"] if "run" in step]
    assert runs == expected


def test_an_unwritable_folder_is_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --dir that cannot be created (under a file) is exit 2 naming it, and no traceback."""
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "project"
    assert _init(target, "--app", "mybot:app") == 2
    err = capsys.readouterr().err
    assert f"bwsim init: cannot write {target}" in err
    assert "--dir" in err
    assert "Traceback" not in err


def test_an_app_that_is_not_module_attr_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--app without the colon is refused before anything is written."""
    assert _init(tmp_path, "--app", "mybot") == 2
    assert "MODULE:ATTR" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_bot_is_guessed_only_when_one_module_defines_app(tmp_path: Path) -> None:
    """One module assigning app is guessed; none or two give no guess (bot:app is written)."""
    assert guess_app(tmp_path) is None
    (tmp_path / "theirbot.py").write_text(BOT)
    (tmp_path / "helpers.py").write_text("x = 1\n")
    (tmp_path / "conftest.py").write_text("app = 1\n")
    assert guess_app(tmp_path) == "theirbot:app"
    (tmp_path / "other.py").write_text("app: object = None\n")
    assert guess_app(tmp_path) is None


def test_with_no_guess_the_default_bot_is_written_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --app and no module defining app: bot:app is written and the output says to check."""
    assert _init(tmp_path) == 0
    out = capsys.readouterr().out
    assert "the bot is named bot:app" in out
    assert 'BOT_APP = "bot:app"' in (tmp_path / "conftest.py").read_text()
