"""What a new user does: install the wheel beside their own bot, outside this checkout, and run it.

The wheel is built from the checkout (``uv build --wheel``) and installed with the bot's
own dependencies into a fresh virtual environment (``uv venv``, ``uv pip install``) in a
temporary folder; the project folder holds nothing but the user's bot module
(``tests/bots/standalone_bot.py``, copied as ``theirbot.py``). Every command then runs
from that folder with only that environment on ``PATH`` and no ``PYTHONPATH``, so
nothing of the checkout can be imported: the suite, the audio and the plugin must come
from the wheel. Building and installing run ``--offline``, from uv's cache, which the
project's own ``uv sync`` has filled with every distribution involved (hatchling and the
pinned bot dependencies); only if the cache lacks one does uv read the package index,
and the test's output says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]
BOT = CHECKOUT / "tests" / "bots" / "standalone_bot.py"
BOT_DEPENDENCIES = [
    "pipecat-ai[silero]==1.14.0",
    "pipecat-bandwidth==0.1.0",
    "espeakng-loader==0.2.4",
    "aiohttp",
    "fastapi",
]
"""What the user's bot needs (the pair docs/pipecat.md names), installed beside the wheel."""
PACKAGED_SCENARIOS = 29


def _uv(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run a uv command from the cache alone; with the index only if the cache lacks a file."""
    code, out = _run([*cmd, "--offline"], cwd, env, timeout)
    if code == 0:
        return code, out
    print(f"uv --offline could not run {cmd[1:3]} from the cache; using the index:\n{out}")
    return _run(cmd, cwd, env, timeout)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder with only the user's bot, and the environment of a venv holding the wheel."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to build and install the wheel (pip install uv)"
    root = tmp_path_factory.mktemp("newuser")
    assert not root.resolve().is_relative_to(CHECKOUT)
    host_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    code, out = _uv(
        [uv, "build", "--wheel", "--out-dir", str(root / "dist"), str(CHECKOUT)],
        root,
        host_env,
        600,
    )
    assert code == 0, out
    (wheel,) = (root / "dist").glob("bwsim-*.whl")
    venv = root / "venv"
    code, out = _run([uv, "venv", "--python", "3.11", str(venv)], root, host_env, 300)
    assert code == 0, out
    code, out = _uv(
        [
            uv,
            "pip",
            "install",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
            str(wheel),
            *BOT_DEPENDENCIES,
        ],
        root,
        host_env,
        900,
    )
    assert code == 0, out
    project = root / "project"
    project.mkdir()
    shutil.copy(BOT, project / "theirbot.py")
    env = {
        k: v
        for k, v in host_env.items()
        if not k.startswith(("PYTHON", "UV_", "PYTEST", "BWSIM", "NOX"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return project, env


def test_the_installed_package_comes_from_the_wheel_and_imports_light(
    installed: tuple[Path, dict[str, str]],
) -> None:
    """`import simulator` in the user's folder loads the installed copy, without matplotlib."""
    project, env = installed
    code, out = _run(
        [
            "python",
            "-c",
            "import simulator, sys; assert 'matplotlib' not in sys.modules; "
            "print(simulator.__file__)",
        ],
        project,
        env,
        120,
    )
    assert code == 0, out
    assert Path(out.strip()).resolve().is_relative_to(Path(env["VIRTUAL_ENV"]).resolve())


def test_init_then_run_the_packaged_suite_against_the_users_bot(
    installed: tuple[Path, dict[str, str]],
) -> None:
    """Init writes the starter files; run with no paths runs the packaged suite, exit 0 or 1."""
    project, env = installed
    code, out = _run(["bwsim", "init"], project, env, 120)
    assert code == 0, out
    written = ["scenarios/starter.yaml", "conftest.py", "noxfile.py", ".github/workflows/bwsim.yml"]
    for rel in written:
        assert (project / rel).is_file(), f"{rel} not written:\n{out}"
    assert "bwsim run --app theirbot:app" in out

    code, out = _run(["bwsim", "run", "--app", "theirbot:app", "--out", "out"], project, env, 900)
    assert code in (0, 1), out
    assert "Traceback" not in out
    report = json.loads((project / "out" / "report.json").read_text())
    assert report["schema"] == 1
    assert len(report["scenarios"]) == PACKAGED_SCENARIOS
    assert (project / "out" / "junit.xml").is_file()
    assert list((project / "out").rglob("call.wav"))
    assert list((project / "out").rglob("timeline.png"))
    failed = [s for s in report["scenarios"] if s["status"] == "failed"]
    assert all(s.get("detail") for s in failed), "a failure without its reason"


def test_the_audit_runs_from_the_users_folder(installed: tuple[Path, dict[str, str]]) -> None:
    """The audit reads the packaged caller audio and judges the bot: exit 0 or 1, no traceback."""
    project, env = installed
    code, out = _run(
        ["bwsim", "audit", "--app", "theirbot:app", "--only", "webhook", "--json", "audit.json"],
        project,
        env,
        600,
    )
    assert code in (0, 1), out
    assert "Traceback" not in out
    assert json.loads((project / "audit.json").read_text())["schema"] == 1


def test_the_packaged_path_scenarios_run_by_name_and_extend(
    installed: tuple[Path, dict[str, str]],
) -> None:
    """`bwsim:paths` ships in the wheel; a user's file extends one and changes the trigger."""
    project, env = installed
    (project / "calls.yaml").write_text(
        "extends: bwsim:paths/outbound.yaml\ncall: {trigger: {path: /call-me}}\n",
        encoding="utf-8",
    )
    code, out = _run(
        ["bwsim", "run", "--app", "theirbot:app", "--list", "bwsim:paths", "calls.yaml"],
        project,
        env,
        120,
    )
    assert code == 0, out
    for scenario_id in (
        "disconnect/the-caller-hangs-up-mid-call",
        "dtmf/the-caller-presses-nothing",
        "outbound/the-callee-answers-after-a-long-ring",
        "calls/the-callee-answers-after-a-long-ring",
    ):
        assert scenario_id in out, out
