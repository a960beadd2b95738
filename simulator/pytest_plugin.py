"""pytest plugin (entry point ``pytest11``): a fake Bandwidth per test, and the bot under test.

Fixtures:

- ``bwsim_target``: override it to name the bot under test (``AppTarget("bot.app:app")``,
  ``CmdTarget("python -m bot")``, ``UrlTarget(...)``); the default is no bot.
- ``bwsim``: an async :class:`~simulator.harness.Harness` running the fake Voice API on
  loopback with that target started against it. At teardown every violation the fake
  recorded (unrouted requests, blocked outside hosts) fails the test that caused it,
  unless the test marked it expected with ``@pytest.mark.bwsim_expect_violations``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulator.harness import Harness
from simulator.targets import Target

__all__ = ["bwsim", "bwsim_target"]


def pytest_configure(config: pytest.Config) -> None:
    """Register bwsim's markers."""
    config.addinivalue_line(
        "markers",
        "bwsim_expect_violations: the test provokes violations on purpose; "
        "the bwsim fixture does not fail it for them",
    )


@pytest.fixture
def bwsim_target() -> Target | None:
    """The bot under test; override this fixture in a conftest to choose one."""
    return None


@pytest.fixture
async def bwsim(
    bwsim_target: Target | None, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    """A running fake Bandwidth (and bot); violations fail the test at teardown."""
    async with Harness(bwsim_target) as harness:
        yield harness
        harness.collect_child_violations()
    if request.node.get_closest_marker("bwsim_expect_violations") is None:
        harness.fake.journal.raise_violations()
