"""The layers hold: read from the imports of every module of the package (type-only and
function-level imports included), no import runs back up a layer, the edges know only the
core, and no modules import each other, even by a detour."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "voyage_progress"
ROOT = "voyage_progress"

#: From the bottom up; a unit may import its own modules and those of the layers below it.
#: Units on the same layer know nothing of each other.
LAYERS: list[set[str]] = [
    {"voyage_progress._version", "voyage_progress._defaults"},  # shared values
    {"voyage_progress.core"},  # the domain: pure
    {"voyage_progress.providers", "voyage_progress.outputs", "voyage_progress.simulator"},  # edges
    {"voyage_progress.watcher"},
    {"voyage_progress.sidecar"},
    {"voyage_progress.cli", "voyage_progress"},  # the fronts: the command line, the library
    {"voyage_progress.__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def unit(module: str) -> str:
    """``voyage_progress.core.models`` is in ``voyage_progress.core``."""
    return ".".join(module.split(".")[:2])


def imports(module: str) -> Iterator[str]:
    """The package's modules that ``module`` imports."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == ROOT)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == ROOT:
                source = node.module
            else:
                continue
            for alias in node.names:  # ``from . import progress`` imports a module
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in MODULES else source


GRAPH = {module: set(imports(module)) - {module} for module in MODULES}


def test_every_unit_has_a_layer() -> None:
    assert {unit(module) for module in MODULES} <= set(RANK)


def test_no_import_runs_back_up_a_layer_or_across_to_a_neighbour() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if unit(target) != unit(module) and RANK[unit(target)] >= RANK[unit(module)]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_watcher_and_the_progress_api_know_providers_only_by_their_protocol() -> None:
    users = ["voyage_progress.watcher", "voyage_progress.providers.progress"]
    users += [m for m in MODULES if unit(m) == "voyage_progress.sidecar"]
    wrong = [
        f"{module} imports {target}"
        for module in users
        for target in GRAPH[module]
        if unit(target) == "voyage_progress.providers" and target != "voyage_progress.providers"
    ]
    assert not wrong, "\n".join(wrong)


#: What every output that speaks OSC shares with the OSC output: the namespace (the one source of
#: every address), the frame as (address, value) pairs, the codec and the control rules. The
#: OSC output's sending (sender, outbox, control port) stays its own.
OSC_VOCABULARY = {
    "voyage_progress.outputs.osc._namespace",
    "voyage_progress.outputs.osc._messages",
    "voyage_progress.outputs.osc._codec",
    "voyage_progress.outputs.osc._control",
}


def test_outputs_know_nothing_of_each_other() -> None:
    """The OSC output and the others share nothing but the core and the OSC vocabulary."""

    def output(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:3]) if parts[1:2] == ["outputs"] and len(parts) > 2 else ""

    def crosses(module: str, target: str) -> bool:
        mine, theirs = output(module), output(target)
        osc = "voyage_progress.outputs.osc"
        if target in OSC_VOCABULARY:
            return False
        return bool(mine and theirs) and mine != theirs and osc in (mine, theirs)

    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets if crosses(m, t)]
    assert not wrong, "\n".join(wrong)


def test_no_modules_import_each_other() -> None:
    cycles = [component for component in _strongly_connected(GRAPH) if len(component) > 1]
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


@pytest.mark.parametrize("layer", ["voyage_progress.core", "voyage_progress.watcher"])
def test_the_core_and_the_watcher_do_no_io_of_their_own(layer: str) -> None:
    """The core is pure; the watcher reaches the network only through a provider."""
    forbidden = {"httpx", "socket", "starlette", "uvicorn", "rich", "os", "subprocess"}
    wrong = []
    for module, path in MODULES.items():
        if unit(module) != layer:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            wrong += [f"{module} imports {name}" for name in names if name.split(".")[0] in forbidden]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_back_edge() -> None:
    """The graph is read right: a known downward import is there (so an upward one would be too)."""
    assert "voyage_progress.core.models" in GRAPH["voyage_progress.watcher"]
    assert "voyage_progress.providers.progress" in GRAPH["voyage_progress.providers._client"]
    assert "voyage_progress.providers" in GRAPH["voyage_progress.providers.progress"]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
