"""The package's layering rules, checked on the source: what each layer may import and do.

Every check parses the modules' ASTs, so imports inside functions and under
``TYPE_CHECKING`` count as much as those at the top of a file.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import simulator

PACKAGE = Path(simulator.__file__).resolve().parent
LIBRARY_LAYERS = ("protocol", "rest", "call", "judge", "runner")
"""Layers that are used as a library: no argument parsing, no printing."""
MAX_LINES = 600
HEAVY = ("matplotlib", "pipecat", "locust", "gevent")
"""Packages a plain ``import simulator`` (or loading the pytest plugin) must not import.

Locust and gevent are worse than slow: importing Locust monkey-patches the standard library."""
PROTOCOL_FORBIDDEN_IMPORTS = frozenset(
    {
        "asyncio",
        "socket",
        "threading",
        "subprocess",
        "time",
        "httpx",
        "websockets",
        "uvicorn",
        "aiohttp",
    }
)
CLOCK_ATTRIBUTES = frozenset(
    {"now", "utcnow", "today", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"}
)
"""Attribute calls that read a clock whatever they are called on (``datetime.now()`` …)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(under: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(under.rglob("*.py"))}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(module: str, path: Path) -> Iterator[tuple[str, list[str], int]]:
    """Each import of ``module``: the absolute module imported from, the names, the line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [a.name for a in node.names], node.lineno


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{line}"


def _clock_reads(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Calls that read a clock: ``datetime.now()``, ``date.today()``, ``time.*()``, loop time.

    ``x.time()`` counts only on ``loop`` or a call (``get_running_loop().time()``): on a
    datetime it is the time of day, not a clock read.
    """
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr, owner = node.func.attr, node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else None
        loop_time = attr == "time" and (owner_name == "loop" or isinstance(owner, ast.Call))
        if attr in CLOCK_ATTRIBUTES or owner_name == "time" or loop_time:
            yield ast.unparse(node.func), node.lineno


def test_the_protocol_layer_does_no_io_and_reads_no_clock() -> None:
    """simulator/protocol/ imports no I/O or clock module and reads no clock (times are given)."""
    found: list[str] = []
    for module, path in _modules(PACKAGE / "protocol").items():
        for name, _, line in _imports(module, path):
            if name.split(".")[0] in PROTOCOL_FORBIDDEN_IMPORTS:
                found.append(f"{_where(path, line)} imports {name}")
        for call, line in _clock_reads(_tree(path)):
            found.append(f"{_where(path, line)} reads a clock: {call}()")
    assert not found, "\n".join(found)


def _import_graph() -> dict[str, set[str]]:
    """Edges from each module to the simulator modules it names in an import.

    ``from simulator.x import y`` is an edge to ``simulator.x.y`` when that is a module.
    The parent packages a module's import runs first are not edges: they are fully
    imported before the module itself, so they close no cycle.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name, names, _ in _imports(module, path):
            if name not in modules:
                continue
            submodules = [f"{name}.{n}" for n in names if f"{name}.{n}" in modules]
            graph[module].update(submodules)
            if len(submodules) < len(names) or not names:
                graph[module].add(name)  # some names come from the module itself
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, …, a]``) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: set[str] = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    def path_back(start: str, component: set[str]) -> list[str]:
        seen, todo = {start: [start]}, [start]
        while todo:  # breadth first: the shortest way round
            v = todo.pop(0)
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*seen[v], start]
                if w not in seen:
                    seen[w] = [*seen[v], w]
                    todo.append(w)
        raise AssertionError(f"no cycle through {start}")

    return [path_back(min(c), c) for c in components]


def test_no_import_cycle_between_simulator_modules() -> None:
    """No simulator module imports, directly or not, one that imports it back."""
    cycles = _cycles(_import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_reports_the_path() -> None:
    """The cycle finder names every module on a cycle, in import order, and nothing acyclic."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert sorted(_cycles(graph)) == [["a", "b", "c", "a"], ["e", "e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_600_lines() -> None:
    """Every module under simulator/ has at most 600 lines."""
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in _modules().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _heavy_imports(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.split()


def test_import_simulator_is_light() -> None:
    """`import simulator` in a fresh interpreter imports none of matplotlib, pipecat, locust."""
    assert _heavy_imports("import simulator") == []


def test_locust_engine_and_router_do_not_import_locust() -> None:
    """simulator.locust, its engine and its router import neither Locust nor gevent."""
    statement = "import simulator.locust, simulator.locust.engine, simulator.locust.router"
    assert _heavy_imports(statement) == []


def test_loading_the_pytest_plugin_is_light() -> None:
    """Importing simulator.pytest_plugin imports neither matplotlib nor pipecat."""
    assert _heavy_imports("import simulator.pytest_plugin") == []


def test_library_layers_parse_no_arguments() -> None:
    """No module of the library layers imports argparse: options belong to simulator/cli/."""
    found = [
        f"{_where(path, line)} imports {name}"
        for layer in LIBRARY_LAYERS
        for module, path in _modules(PACKAGE / layer).items()
        for name, _, line in _imports(module, path)
        if name.split(".")[0] == "argparse"
    ]
    assert not found, "\n".join(found)


def test_library_layers_print_nothing() -> None:
    """No module of the library layers calls print: output belongs to simulator/cli/ and report/."""
    found = [
        _where(path, node.lineno)
        for layer in LIBRARY_LAYERS
        for path in _modules(PACKAGE / layer).values()
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]
    assert not found, "print() in library modules: " + ", ".join(found)
