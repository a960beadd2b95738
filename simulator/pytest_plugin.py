"""pytest plugin (entry point ``pytest11``): one simulator per session, a cheap reset per test.

Name the bot under test on the command line (``--bwsim-app bot.app:app``,
``--bwsim-cmd "python -m bot"``, ``--bwsim-url http://127.0.0.1:7860``) or by overriding
the ``bwsim_target`` fixture in a conftest. Fixtures:

- ``bwsim_target`` (session): the :class:`~simulator.runner.targets.Target`; None means no bot.
- ``bwsim_bot_env`` (session): extra environment for the bot (``{"BOT_TOKEN_TTL_S": "2"}``).
- ``bwsim_simulator`` (session): the fake Bandwidth and the bot, started once, on a thread
  of their own (:class:`~simulator.runner.background.BackgroundHarness`), so any event-loop
  scope works.
- ``bwsim`` (function): a :class:`BwsimSession` for one test. The fake is reset when the
  test starts; at teardown every violation recorded during the test (the bot broke a
  media rule, sent an unrouted request, reached outside loopback, left an orphaned leg)
  fails the test, unless it is marked ``@pytest.mark.bwsim_expect_violations``.

Marker ``@pytest.mark.bwsim(**call_options)`` sets the test's default
:class:`~simulator.call.options.CallOptions` (``auth_mode="wrong"``, ``max_call_s=20`` …).

A test::

    async def test_barge_in(bwsim):
        async def caller(call):
            await call.wait_for("bot-speech-start", timeout_ms=5000)
            await call.say(load_caller_audio(AUDIO_DIR / "monologue.wav"), "monologue")
        result = await bwsim.call(caller, caller_lines=["I have a question."])
        bwsim.expect(result, {"clear": {"after": "caller_audio_start", "within_ms": 1500,
                                        "bot_was_speaking": True}})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields, replace
from typing import Any

import pytest

from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.errors import BotMisbehaved
from simulator.judge.expect import Verdict, check_call
from simulator.judge.scenario import parse_expectations
from simulator.rest.fake import FakeBandwidth
from simulator.rest.journal import Journal
from simulator.runner.background import BackgroundHarness
from simulator.runner.targets import AppTarget, CmdTarget, Target, UrlTarget

__all__ = [
    "BwsimSession",
    "bwsim",
    "bwsim_bot_env",
    "bwsim_simulator",
    "bwsim_target",
]

_OPTION_NAMES = frozenset(f.name for f in fields(CallOptions))


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--bwsim-app``, ``--bwsim-cmd``, ``--bwsim-url``: the bot under test."""
    group = parser.getgroup("bwsim", "bwsim: the Bandwidth simulator")
    group.addoption("--bwsim-app", metavar="MODULE:ATTR", help="ASGI app bwsim serves")
    group.addoption("--bwsim-cmd", metavar="COMMAND", help="command bwsim starts (gets $PORT)")
    group.addoption("--bwsim-url", metavar="URL", help="a bot already running")


def pytest_configure(config: pytest.Config) -> None:
    """Register bwsim's markers."""
    config.addinivalue_line(
        "markers",
        "bwsim(**call_options): default CallOptions for the calls this test places "
        "through the bwsim fixture (e.g. auth_mode='wrong', max_call_s=20)",
    )
    config.addinivalue_line(
        "markers",
        "bwsim_expect_violations: the test provokes violations on purpose; "
        "the bwsim fixture does not fail it for them",
    )


class BwsimSession:
    """One test's handle on the session's simulator: place calls, judge them."""

    def __init__(self, simulator: BackgroundHarness, defaults: Mapping[str, Any]) -> None:
        self._simulator = simulator
        self._defaults = dict(defaults)
        self.results: list[CallResult] = []

    @property
    def fake(self) -> FakeBandwidth:
        """The fake Bandwidth's state (registry, journal, faults, settings)."""
        return self._simulator.harness.fake

    @property
    def journal(self) -> Journal:
        """Every Voice API request and violation recorded since this test began."""
        return self.fake.journal

    def options(self, **changes: Any) -> CallOptions:
        """CallOptions from the marker's defaults and ``changes``; unknown names are refused."""
        unknown = sorted(set(changes) - _OPTION_NAMES)
        if unknown:
            msg = f"unknown call option(s) {unknown}; CallOptions has {sorted(_OPTION_NAMES)}"
            raise TypeError(msg)
        return replace(CallOptions(), **{**self._defaults, **changes})

    async def call(self, caller: Caller | None = None, **options: Any) -> CallResult:
        """Place one call to the bot and run it to its end (see :class:`LiveCall`)."""
        if self._simulator.harness.bot is None:
            msg = (
                "bwsim has no bot to call: pass --bwsim-app/--bwsim-cmd/--bwsim-url, or "
                "override the bwsim_target fixture in your conftest.py"
            )
            raise RuntimeError(msg)
        result = await self._simulator.place_call(caller, self.options(**options))
        self.results.append(result)
        return result

    def expect(
        self, result: CallResult, *expectations: str | Mapping[str, Any], ordered: bool = False
    ) -> list[Verdict]:
        """Check scenario-style expectations against a call; fails with every verdict listed."""
        __tracebackhide__ = True
        parsed = parse_expectations(expectations, where="bwsim.expect()")
        return check_call(result, list(self.journal.entries), parsed, ordered=ordered)


def _target_from_options(config: pytest.Config) -> Target | None:
    app, cmd, url = (config.getoption(f"--bwsim-{k}") for k in ("app", "cmd", "url"))
    given = [x for x in (app, cmd, url) if x]
    if len(given) > 1:
        raise pytest.UsageError("give only one of --bwsim-app, --bwsim-cmd and --bwsim-url")
    if app:
        return AppTarget(str(app))
    if cmd:
        return CmdTarget(str(cmd))
    if url:
        return UrlTarget(str(url))
    return None


@pytest.fixture(scope="session")
def bwsim_target(pytestconfig: pytest.Config) -> Target | None:
    """The bot under test (from --bwsim-app/--bwsim-cmd/--bwsim-url); override to choose."""
    return _target_from_options(pytestconfig)


@pytest.fixture(scope="session")
def bwsim_bot_env() -> dict[str, str]:
    """Extra environment for the bot bwsim starts; override to set some."""
    return {}


@pytest.fixture(scope="session")
def bwsim_simulator(
    bwsim_target: Target | None, bwsim_bot_env: dict[str, str]
) -> Iterator[BackgroundHarness]:
    """The fake Bandwidth and the bot, started once for the session on their own thread."""
    simulator = BackgroundHarness(bwsim_target, bot_env=bwsim_bot_env).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def bwsim(
    bwsim_simulator: BackgroundHarness, request: pytest.FixtureRequest
) -> Iterator[BwsimSession]:
    """A reset simulator for this test; violations recorded during it fail it at teardown."""
    marker = request.node.get_closest_marker("bwsim")
    defaults = dict(marker.kwargs) if marker is not None else {}
    unknown = sorted(set(defaults) - _OPTION_NAMES)
    if unknown:
        msg = f"@pytest.mark.bwsim got unknown call option(s) {unknown}"
        raise pytest.UsageError(msg)
    bwsim_simulator.reset()
    session = BwsimSession(bwsim_simulator, defaults)
    yield session
    bwsim_simulator.harness.collect_child_violations()
    violations = list(bwsim_simulator.harness.fake.journal.violations)
    if violations and request.node.get_closest_marker("bwsim_expect_violations") is None:
        listed = "\n".join(f"  - {v.kind}: {v.detail}" for v in violations)
        msg = (
            f"bwsim recorded {len(violations)} violation(s) during this test:\n{listed}\n"
            "Fix the bot, or mark the test @pytest.mark.bwsim_expect_violations if they are "
            "what it checks."
        )
        raise BotMisbehaved(msg)
