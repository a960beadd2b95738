"""How ``--dist loadgroup`` deals tests to xdist workers: one at a time, bar a few modules.

xdist's ``load`` queues the first eighth of the collection on one worker up front: every
long audit test is in it, and that worker ran 46 s after the other had finished (a
562 s ``nox -s tests`` run). One test at a time keeps both busy to the end.

The modules of :data:`UNITS` go to one worker whole: the audits, so that no two run at
once, and modules whose tests share one costly run (a module-level cache or a
module-scoped fixture), which the other worker would make again; in those of
:data:`WHOLE_FUNCTIONS`, each test function (all its cases) shares one. xdist's own
``loadgroup`` reads ``xdist_group`` marks by renaming ``item._nodeid``, which pytest 9
no longer reads, so it groups nothing; this scheduler keys on the module's path instead.
"""

from __future__ import annotations

from typing import Final

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]  # no py.typed

UNITS: Final = {
    # In-process audits, one at a time: each keeps a bot busy with several real-time calls
    # and re-runs a missed budget, unreliable under load; run side by side, two of them
    # (the reference bot's beside the speaker bot's) failed the correct bot.
    # test_audit_branches.py audits every branch bot in its first test, for all of them;
    # in test_audit_broken.py the first case of a group audits the group's bots.
    "tests/integration/test_audit.py": "audits",
    "tests/integration/test_audit_branches.py": "audits",
    "tests/integration/test_audit_broken.py": "audits",
    "tests/integration/test_audit_fuzz.py": "audits",
    "tests/integration/test_audit_verdicts.py": "audits",
    # One client bot per event loop, module-scoped.
    "tests/integration/test_intercept_clients.py": "intercept_clients",
    # One recorded call (a module-scoped fixture) that every replay test replays.
    "tests/integration/test_replay.py": "replay",
    # The wheel, built and installed once by a module-scoped fixture (nox -s e2e).
    "tests/e2e/test_installed_wheel.py": "installed_wheel",
}
"""Modules whose tests go to one worker together, as one unit of work (module: unit)."""

WHOLE_FUNCTIONS: Final = frozenset(
    {
        # Each test function reads its own module-scoped run: of every flawed bot, or of
        # the reference bot (nox -s e2e); the two runs may go to different workers.
        "tests/e2e/test_bundled_scenarios.py",
    }
)


class OneTestOrWholeModule(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """Each test is its own unit of work, bar :data:`UNITS` and :data:`WHOLE_FUNCTIONS`.

    Units go out one at a time as a worker runs low, in collection order (nox passes
    ``--no-loadscope-reorder``), which puts the long integration tests before the unit
    tests. Not the largest unit first: that started a worker on the concurrent audits
    of test_audit_branches.py before any other audit had warmed Hypothesis's source
    caches, and in one run a ``fuzz.start_metadata`` check there errored with a
    SystemError from ``ast.parse``, raised while several threads ran Hypothesis at once
    (CPython 3.11.7); in collection order test_audit.py's single audits come first, as
    they did under ``load``.
    """

    def _split_scope(self, nodeid: str) -> str:
        module, _, test = nodeid.partition("::")
        if module in UNITS:
            return UNITS[module]
        if module in WHOLE_FUNCTIONS:
            return f"{module}::{test.split('[', 1)[0]}"
        return nodeid
