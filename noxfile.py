"""Every check the project runs, in one place; CI runs the default sessions (bare `nox`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests", "e2e"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
DEAL = ["--dist", "loadgroup", "--no-loadscope-reorder"]
"""xdist dealing tests as tests/xdist_scopes.py says, in collection order."""
TESTS_WORKERS = ["-n", "3"]
"""Three for the tests session on the two-core CI machine: most of its time is waiting on
real-time calls and child processes, not CPU (measured on a slow VM of this kind: 10 min
44 s with two workers, 7 min 52 s with three, every test passed)."""
E2E_WORKERS = ["-n", "2"]
"""Two for e2e: the flawed bots' runs hold reply budgets that a third worker starves
(seen: a deaf bot's two-turn scenario failing on its greeting's lateness)."""


def sync(session: nox.Session, *groups: str, compile_bytecode: bool = True) -> None:
    """Install the project and the given dependency groups exactly as uv.lock pins them.

    Bytecode is compiled at install time: where ``PYTHONDONTWRITEBYTECODE`` is set (as on
    this project's CI machines) nothing else ever writes it, and every bot, harness and
    pytest worker would compile Pipecat from source again (``import bot.app``: 6.1 s
    without, 2.7 s with). A session that imports none of it (lint) skips the 20 s
    compilation.
    """
    args = ["uv", "sync", "--locked", "--no-default-groups"]
    if compile_bytecode:
        args.append("--compile-bytecode")
    for group in groups:
        args += ["--group", group]
    session.run_install(
        *args, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}, external=True
    )


def ensure_redis(session: nox.Session) -> dict[str, str]:
    """Make sure redis-server is installed (the multi-worker token tests need it), or stop.

    Missing, it is installed from Debian's packages where apt-get can run as root; where it
    cannot, the session fails here with what to do, rather than the Redis tests skipping
    (``BWSIM_REQUIRE_REDIS=1`` makes them fail, not skip, if it is still missing).
    """
    if shutil.which("redis-server") is None and shutil.which("apt-get") and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True, silent=True)
        session.run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "redis-server",
            external=True,
            silent=True,
        )
    if shutil.which("redis-server") is None:
        session.error(
            "redis-server is not installed and could not be installed here (that needs "
            "apt-get as root): install it (apt install redis-server, brew install redis) "
            "and run again; the Redis token-store tests need it"
        )
    return {"BWSIM_REQUIRE_REDIS": "1"}


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format) and mypy --strict over pyproject's files (code, tests, benchmarks)."""
    sync(session, "lint", "test", compile_bytecode=False)  # ruff and mypy read sources
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (real loopback servers, real uvicorn, no network)."""
    sync(session, "test")
    env = ensure_redis(session)
    # TESTS_WORKERS (three): most of these tests wait on real-time calls, not on the CPU.
    # Three once starved bots of CPU at start-up; since the suite was made to pass beside a
    # CPU hog, it passes with three (and CI on a slow VM of this kind took 16 min with
    # two). --dist loadgroup, as tests/xdist_scopes.py defines it: one test at a time (bar
    # the modules sharing one costly run, each kept whole), in collection order, so the
    # workers end together.
    workers = [*TESTS_WORKERS, *DEAL] if not session.posargs else []
    # The slowest tests are listed at the end: CI has a 15-minute budget to keep.
    slowest = ["--durations=15"] if not session.posargs else []
    session.run(
        "pytest", "-m", "not e2e and not fuzz", *workers, *slowest, *session.posargs, env=env
    )


TESTS_ENV = Path(".nox") / "tests"
"""The tests session's environment: e2e installs the same groups, so it shares it."""


@nox.session(venv_backend="none")
def e2e(session: nox.Session) -> None:
    """End-to-end: the bundled suite against the reference bot, then every flawed bot.

    It runs in the tests session's environment (synced again, which is immediate when the
    tests session made it): a second environment compiled the same bytecode for 20 s of
    CI's 15-minute budget.
    """
    location = TESTS_ENV.resolve()
    session.run_install(
        *("uv", "sync", "--locked", "--no-default-groups", "--compile-bytecode"),
        *("--group", "test", "--python", PYTHON),
        env={"UV_PROJECT_ENVIRONMENT": str(location)},
        external=True,
    )
    env = {
        "VIRTUAL_ENV": str(location),
        "PATH": f"{location / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    bin_dir = location / "bin"
    session.run(str(bin_dir / "bwsim"), "run", "--out", "bwsim-out/e2e", env=env, external=True)
    # Two workers (tests/xdist_scopes.py deals the module-scoped runs whole): these tests
    # wait on real-time calls, one worker kept half a core busy (CPU 135 s in 262 s), and
    # the flawed bots' run (2 bots at a time) overlaps the wheel and the audits.
    workers = [*E2E_WORKERS, *DEAL] if not session.posargs else []
    # No success_codes=[5]: an e2e run that collects no test must fail, not pass.
    session.run(
        str(bin_dir / "pytest"), "-m", "e2e", *workers, *session.posargs, env=env, external=True
    )


@nox.session(python=PYTHON, default=False)
def run(session: nox.Session) -> None:
    """The main job: the bundled scenarios against the bundled bot (`bwsim run`)."""
    sync(session, "test")
    session.run("bwsim", "run", *session.posargs)


@nox.session(python=PYTHON, default=False)
def fuzz(session: nox.Session) -> None:
    """Every fuzz target with 10,000 examples (HYPOTHESIS_PROFILE=fuzz), from one printed seed.

    The seed is HYPOTHESIS_SEED when set, else a random one; it is printed first, and
    ``HYPOTHESIS_SEED=N nox -s fuzz`` generates the same examples again (the in-process
    targets through ``--hypothesis-seed``, the live ``fuzz.start_metadata`` through
    HYPOTHESIS_SEED). Hypothesis prints each target's example count; the live target
    prints its own (``-rP``). One worker: the live target's bot needs the second core.
    """
    import random  # noqa: PLC0415 - only this session needs it

    sync(session, "test")
    seed = os.environ.get("HYPOTHESIS_SEED") or str(random.SystemRandom().randrange(2**32))
    session.log(f"fuzz seed {seed} (again: HYPOTHESIS_SEED={seed} nox -s fuzz)")
    # The in-process targets (tests/unit/test_fuzz_*.py, also run at the default count by
    # every test run) and the live one (marked `fuzz`, in test_audit_fuzz.py).
    targets = sorted(str(p) for p in Path("tests/unit").glob("test_fuzz_*.py"))
    session.run(
        "pytest",
        *targets,
        "tests/integration/test_audit_fuzz.py",
        "-p",
        "no:xdist",
        "-rP",
        f"--hypothesis-seed={seed}",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "fuzz", "HYPOTHESIS_SEED": seed},
    )


@nox.session(python=PYTHON, default=False)
def serve(session: nox.Session) -> None:
    """Run the fake Bandwidth REST side on loopback for a bot you start yourself."""
    sync(session, "test")
    session.run("bwsim", "serve", *session.posargs)
