"""The package's structure: no import cycles between modules or between packages (imports
inside functions and under TYPE_CHECKING count too), models hold models only, and the calls
into torch internals live in one module."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src"
PACKAGE = SRC / "aekit"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(name: str) -> set[str]:
    """Every aekit module ``name`` imports, wherever the import statement stands."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imported_modules(name) for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    counter = itertools.count()

    def visit(node: str) -> None:
        index[node] = low[node] = next(counter)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """``aekit.data.files`` -> ``aekit.data``; a top-level module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_cycle_between_modules():
    assert cycles(GRAPH) == []


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        source = package_of(module)
        packages.setdefault(source, set()).update(
            package_of(t) for t in targets if package_of(t) != source
        )
    assert cycles(packages) == []


def test_the_checks_above_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert imported_modules("aekit.workflow") >= {"aekit.runs.directory", "aekit.figures.kinds"}


def test_models_import_no_other_layer():
    """A model file depends on the model layer and the foundations only."""
    allowed = ("aekit.models", "aekit.errors", "aekit.values")
    for module, targets in GRAPH.items():
        if module.startswith("aekit.models"):
            assert all(t.startswith(allowed) for t in targets), (module, targets)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_torch_internals_are_called_from_one_module(name):
    """``torch._...`` and the OpenMP runtime's entry points only in training/internals.py."""
    if name == "aekit.training.internals":
        return
    text = MODULES[name].read_text()
    for private in (r"torch\._(?!_)", "GOMP_", r"_C\._aoti", "make_fx"):
        assert not re.search(private, text), (name, private)


def test_no_module_uses_pyplot():
    """Figures are made without pyplot (figures.plotting.new_figure), so that aekit never
    chooses or changes the user's matplotlib backend nor keeps figures in pyplot's list."""
    imports = re.compile(
        r"^\s*(import matplotlib\.pyplot|from matplotlib(\.pyplot import| import .*pyplot))", re.M
    )
    assert [name for name, path in MODULES.items() if imports.search(path.read_text())] == []
    assert imports.search("import matplotlib.pyplot as plt")  # the check can fail
