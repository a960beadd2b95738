"""How ``--dist loadgroup`` deals tests to xdist workers: one at a time, bar a few modules.

xdist's ``load`` queues the first eighth of the collection on one worker up front: every
long audit test is in it, and that worker ran 46 s after the other had finished (a
562 s ``nox -s tests`` run). One test at a time keeps both busy to the end.

The modules of :data:`WHOLE_MODULES` share one costly run between their tests (a
module-level cache or a module-scoped fixture): each goes to one worker whole, or the
other worker would make the run again; in those of :data:`WHOLE_FUNCTIONS`, each test
function (all its cases) shares one. xdist's own ``loadgroup`` reads ``xdist_group``
marks by renaming ``item._nodeid``, which pytest 9 no longer reads, so it groups
nothing; this scheduler keys on the module's path instead.
"""

from __future__ import annotations

from typing import Final

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]  # no py.typed

WHOLE_MODULES: Final = frozenset(
    {
        # The first test audits every branch bot, for all of them.
        "tests/integration/test_audit_branches.py",
        # The first case of a group audits the group's bots side by side.
        "tests/integration/test_audit_broken.py",
        # One client bot per event loop, module-scoped.
        "tests/integration/test_intercept_clients.py",
        # The wheel, built and installed once by a module-scoped fixture (nox -s e2e).
        "tests/e2e/test_installed_wheel.py",
    }
)

WHOLE_FUNCTIONS: Final = frozenset(
    {
        # Each test function reads its own module-scoped run: of every flawed bot, or of
        # the reference bot (nox -s e2e); the two runs may go to different workers.
        "tests/e2e/test_bundled_scenarios.py",
    }
)


class OneTestOrWholeModule(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """Each test is its own unit of work, bar :data:`WHOLE_MODULES` and :data:`WHOLE_FUNCTIONS`.

    Units go out one at a time as a worker runs low, the largest first (xdist's
    ``--loadscope-reorder``, on by default): the whole modules, then single tests in
    collection order, which puts the long integration tests before the unit tests.
    """

    def _split_scope(self, nodeid: str) -> str:
        module, _, test = nodeid.partition("::")
        if module in WHOLE_MODULES:
            return module
        if module in WHOLE_FUNCTIONS:
            return f"{module}::{test.split('[', 1)[0]}"
        return nodeid
