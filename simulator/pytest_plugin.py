"""pytest plugin (entry point ``pytest11``): one simulator per session, a cheap reset per test.

Name the bot under test on the command line (``--bwsim-app bot.app:app``,
``--bwsim-cmd "python -m bot"``, ``--bwsim-url http://127.0.0.1:7860``) or by overriding
the ``bwsim_target`` fixture in a conftest. Fixtures:

- ``bwsim_target`` (session): the :class:`~simulator.runner.targets.Target`; None means no bot.
- ``bwsim_bot_env`` (session): extra environment for the bot (``{"BOT_TOKEN_TTL_S": "2"}``);
  the bot otherwise starts with a clean one, plus ``--bwsim-pass-env NAME`` (ini
  ``bwsim_pass_env``) variables of this environment.
- ``bwsim_simulator`` (session): the fake Bandwidth and the bot, started once, on a thread
  of their own (:class:`~simulator.runner.background.BackgroundHarness`), so any event-loop
  scope works.
- ``bwsim`` (function): a :class:`BwsimSession` for one test. The fake is reset when the
  test starts; once the test's body has run, every violation recorded during it (the bot
  broke a media rule, sent an unrouted request, reached outside loopback, left an orphaned
  leg) fails the test itself, unless it is marked ``@pytest.mark.bwsim_expect_violations``.
- ``bwsim_voice_api`` (function): a
  :class:`~simulator.rest.respx_routes.FakeVoiceApi` that answers this process's own
  httpx requests for Bandwidth's hosts (through respx, no server, no call): unit tests of
  a bot's tool functions, with calls made in a chosen state.

Loading the plugin imports nothing of bwsim's machinery: every pytest run of a project
that installs bwsim loads it, so fixtures import what they need when they first run.

Marker ``@pytest.mark.bwsim(**call_options)`` sets the test's default
:class:`~simulator.call.options.CallOptions` (``auth_mode="wrong"``, ``max_call_s=20`` …).

A test::

    async def test_barge_in(bwsim):
        async def caller(call):
            await call.wait_for("bot_speech_start", timeout_ms=5000)
            await call.say(load_caller_audio(AUDIO_DIR / "monologue.wav"), "monologue")
        result = await bwsim.call(caller, caller_lines=["I have a question."])
        bwsim.expect(result, {"clear": {"after": "caller_audio_start", "within_ms": 1500,
                                        "bot_was_speaking": True}})
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from simulator.archive.model import CallArchive
    from simulator.call.live import Caller
    from simulator.call.options import CallOptions
    from simulator.call.result import CallResult
    from simulator.judge.expect import Verdict
    from simulator.replay.plan import Timing
    from simulator.replay.run import Replay
    from simulator.rest.fake import FakeBandwidth
    from simulator.rest.journal import Journal, Violation
    from simulator.rest.respx_routes import FakeVoiceApi
    from simulator.runner.background import BackgroundHarness
    from simulator.runner.targets import Target

__all__ = [
    "BwsimSession",
    "bwsim",
    "bwsim_bot_env",
    "bwsim_simulator",
    "bwsim_target",
    "bwsim_voice_api",
    "pytest_runtest_call",
]


@functools.cache
def _option_names() -> frozenset[str]:
    """The fields of CallOptions (imported on first use: loading the plugin stays cheap)."""
    from simulator.call.options import CallOptions

    return frozenset(f.name for f in fields(CallOptions))


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--bwsim-app``/``--bwsim-cmd``/``--bwsim-url`` (the bot), ``--bwsim-allow-host``."""
    group = parser.getgroup("bwsim", "bwsim: the Bandwidth simulator")
    group.addoption("--bwsim-app", metavar="MODULE:ATTR", help="ASGI app bwsim serves")
    group.addoption("--bwsim-cmd", metavar="COMMAND", help="command bwsim starts (gets $PORT)")
    group.addoption("--bwsim-url", metavar="URL", help="a bot already running")
    group.addoption(
        "--bwsim-allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="outside host the bot bwsim starts may reach, e.g. a real speech provider "
        "(repeatable; adds to the bwsim_allow_hosts ini setting)",
    )
    parser.addini(
        "bwsim_allow_hosts",
        "outside hosts the bot bwsim starts may reach (one per line)",
        type="linelist",
        default=[],
    )
    group.addoption(
        "--bwsim-pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="variable of this environment passed on to the bot bwsim starts, which "
        "otherwise starts with a clean one (repeatable; adds to the bwsim_pass_env ini setting)",
    )
    parser.addini(
        "bwsim_pass_env",
        "variables of this environment passed on to the bot bwsim starts (one per line)",
        type="linelist",
        default=[],
    )


def _pass_env(config: pytest.Config) -> None:
    """Add ``--bwsim-pass-env``/``bwsim_pass_env`` names to ``$BWSIM_PASS_ENV``."""
    from simulator.runner.targets import PASS_ENV_VAR, passed_env_names

    given = [*config.getini("bwsim_pass_env"), *config.getoption("--bwsim-pass-env")]
    if given:
        os.environ[PASS_ENV_VAR] = ",".join(dict.fromkeys([*passed_env_names(), *given]))


def _allow_hosts(config: pytest.Config) -> list[str]:
    """Hosts from the ``bwsim_allow_hosts`` ini setting and ``--bwsim-allow-host``."""
    from simulator.rest.hosts import check_allow_host

    given = [*config.getini("bwsim_allow_hosts"), *config.getoption("--bwsim-allow-host")]
    try:
        return [check_allow_host(str(host)) for host in given]
    except ValueError as exc:
        raise pytest.UsageError(f"--bwsim-allow-host / bwsim_allow_hosts: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    """Register bwsim's markers; refuse a bad ``--bwsim-allow-host`` before any test runs."""
    _allow_hosts(config)
    if config.getini("bwsim_pass_env") or config.getoption("--bwsim-pass-env"):
        _pass_env(config)
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
        self._reported = 0
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
        from simulator.call.options import CallOptions

        unknown = sorted(set(changes) - _option_names())
        if unknown:
            msg = f"unknown call option(s) {unknown}; CallOptions has {sorted(_option_names())}"
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

    async def dial(
        self,
        caller: Caller | None = None,
        *,
        path: str = "/dial",
        method: str = "POST",
        json: Any = None,
        answer: str = "answered",
        ring_ms: float | None = None,
        create_within_s: float = 10.0,
        **options: Any,
    ) -> CallResult:
        """Make the bot dial out with ``method path`` (body ``json``) and play the callee.

        The bot must create the call within ``create_within_s``; the callee answers
        (``answer``: ``answered``, ``busy``, ``no-answer``, ``rejected``, ``machine``) after
        ``ring_ms``, and ``caller`` is the callee's script (see :class:`LiveCall`).
        """
        from simulator.call.outbound import OutboundTrigger
        from simulator.protocol.create_call import CalleePlan

        if self._simulator.harness.bot is None:
            msg = (
                "bwsim has no bot to ask to dial: pass --bwsim-app/--bwsim-cmd/--bwsim-url, "
                "or override the bwsim_target fixture in your conftest.py"
            )
            raise RuntimeError(msg)
        trigger = OutboundTrigger(
            method=method.upper(), path=path, json=json, create_within_s=create_within_s
        )
        result = await self._simulator.place_outbound_call(
            trigger, CalleePlan(answer, ring_ms), caller, self.options(**options)
        )
        self.results.append(result)
        return result

    async def replay(
        self,
        archive: str | os.PathLike[str] | CallArchive,
        *,
        timing: Timing = "recorded",
        max_latency_change_ms: float | None = None,
        caller_lines: list[str] | None = None,
        **options: Any,
    ) -> Replay:
        """Replay a recorded call (a call archive) against the bot and compare it.

        As ``bwsim replay ARCHIVE --timing TIMING``: the recorded webhook body with fresh
        ids, the recorded caller at its recorded times (``recorded``) or turn by turn
        (``turns``). ``options`` change the call's options (they win over the recording's
        and the marker's). Returns the :class:`~simulator.replay.run.Replay`: its
        ``result`` (a CallResult), its ``comparison`` and ``ok``; a failing test shows
        ``replay.comparison.text()``. A bad archive raises ArchiveError.
        """
        from simulator.archive.model import CallArchive
        from simulator.replay.plan import plan_replay
        from simulator.replay.run import replay_archive

        unknown = sorted(set(options) - _option_names())
        if unknown:
            msg = f"unknown call option(s) {unknown}; CallOptions has {sorted(_option_names())}"
            raise TypeError(msg)
        loaded = archive if isinstance(archive, CallArchive) else CallArchive.load(Path(archive))
        plan = plan_replay(loaded, timing=timing, caller_lines=caller_lines)
        plan.options = replace(plan.options, **{**self._defaults, **options})

        async def place(caller: Caller, opts: CallOptions) -> CallResult:
            result = await self._simulator.place_call(caller, opts)
            self.results.append(result)
            return result

        return await replay_archive(
            place, loaded, plan, max_latency_change_ms=max_latency_change_ms
        )

    def expect(
        self, result: CallResult, *expectations: str | Mapping[str, Any], ordered: bool = False
    ) -> list[Verdict]:
        """Check scenario-style expectations against a call; fails with every verdict listed."""
        from simulator.judge.expect import check_call
        from simulator.judge.scenario import parse_expectations

        __tracebackhide__ = True
        parsed = parse_expectations(expectations, where="bwsim.expect()")
        return check_call(
            result,
            list(self.journal.entries),
            parsed,
            ordered=ordered,
            requests_not_kept=self.journal.requests_not_kept,
        )

    def take_violations(self) -> list[Violation]:
        """The violations recorded since the last call (child processes' included)."""
        self._simulator.harness.collect_child_violations()
        violations = list(self.journal.violations)
        new, self._reported = violations[self._reported :], len(violations)
        return new


def _target_from_options(config: pytest.Config) -> Target | None:
    from simulator.runner.targets import AppTarget, CmdTarget, UrlTarget

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


def _violations_message(violations: list[Violation], when: str) -> str:
    listed = "\n".join(f"  - {v.kind}: {v.detail}" for v in violations)
    return (
        f"bwsim recorded {len(violations)} violation(s) {when}:\n{listed}\n"
        "Fix the bot, or mark the test @pytest.mark.bwsim_expect_violations if they are "
        "what it checks."
    )


def _watched(item: pytest.Item) -> list[BwsimSession | FakeVoiceApi]:
    """The bwsim handles this test uses whose violations must fail it."""
    if item.get_closest_marker("bwsim_expect_violations") is not None:
        return []
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    handles = (funcargs.get("bwsim"), funcargs.get("bwsim_voice_api"))
    return [h for h in handles if h is not None and hasattr(h, "take_violations")]  # type: ignore[misc]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that used bwsim fails, as itself, for the violations recorded while it ran.

    The check runs right after the test's body, so the report says "1 failed" with the
    violations as its message, not "1 passed, 1 error" at teardown. A test that failed
    on its own keeps its failure, with the violations added as a note.
    """
    try:
        result = yield
    except Exception as exc:
        found = [v for handle in _watched(item) for v in handle.take_violations()]
        if found:
            exc.add_note(_violations_message(found, "while this test ran"))
        raise
    found = [v for handle in _watched(item) for v in handle.take_violations()]
    if found:
        pytest.fail(_violations_message(found, "during this test"), pytrace=False)
    return result


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
    bwsim_target: Target | None, bwsim_bot_env: dict[str, str], pytestconfig: pytest.Config
) -> Iterator[BackgroundHarness]:
    """The fake Bandwidth and the bot, started once for the session on their own thread."""
    from simulator.runner.background import BackgroundHarness

    simulator = BackgroundHarness(
        bwsim_target, bot_env=bwsim_bot_env, allow_hosts=_allow_hosts(pytestconfig)
    ).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def bwsim(
    bwsim_simulator: BackgroundHarness, request: pytest.FixtureRequest
) -> Iterator[BwsimSession]:
    """A reset simulator for this test; violations recorded during it fail it."""
    marker = request.node.get_closest_marker("bwsim")
    defaults = dict(marker.kwargs) if marker is not None else {}
    unknown = sorted(set(defaults) - _option_names())
    if unknown:
        msg = f"@pytest.mark.bwsim got unknown call option(s) {unknown}"
        raise pytest.UsageError(msg)
    bwsim_simulator.reset()
    session = BwsimSession(bwsim_simulator, defaults)
    yield session
    late = session.take_violations()
    if late and request.node.get_closest_marker("bwsim_expect_violations") is None:
        from simulator.errors import BotMisbehaved

        raise BotMisbehaved(_violations_message(late, "after this test's body had ended"))


@pytest.fixture
def bwsim_voice_api() -> Iterator[FakeVoiceApi]:
    """Bandwidth's OAuth and Voice API for this process's own httpx requests; no server.

    Requests for ``api.bandwidth.com`` and ``voice.bandwidth.com`` are answered by a fresh
    fake Bandwidth (through respx), loopback requests go through, and a request for any
    other host fails naming it. Violations recorded meanwhile fail the test.
    """
    from simulator.rest.respx_routes import FakeVoiceApi

    with FakeVoiceApi() as api:
        yield api
