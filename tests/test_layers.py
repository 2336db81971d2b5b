"""The package's imports run one way (docs/architecture.rst):

    errors, deprecation  <-  nn, evaluation  <-  data  <-  models  <-  training
            <-  pipeline  <-  cli  <-  command  <-  __main__

A module may import its own layer or one below it, never one above; no
modules import each other in a loop. Imports inside functions count (they are
imports all the same); imports under ``if TYPE_CHECKING:`` do not (they only
name types).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mde_pyg

SOURCE = Path(mde_pyg.__file__).parent

#: Layer of each top-level part of the package, lowest first. The package
#: root (lazy re-exports by name, no import statements of its own) and the
#: config files are below everything.
LAYERS = {
    "mde_pyg": 0,
    "mde_pyg.errors": 0,
    "mde_pyg.deprecation": 0,
    "mde_pyg.conf": 0,
    "mde_pyg.nn": 1,
    "mde_pyg.evaluation": 1,
    "mde_pyg.data": 2,
    "mde_pyg.models": 3,
    "mde_pyg.training": 4,
    "mde_pyg.pipeline": 5,
    "mde_pyg.cli": 6,
    "mde_pyg.command": 7,
    "mde_pyg.__main__": 8,
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part(module: str) -> str:
    """The top-level part of the package ``module`` belongs to."""
    pieces = module.split(".")
    return ".".join(pieces[:2]) if len(pieces) > 1 else pieces[0]


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The ``mde_pyg`` modules a module's import statements name, wherever
    they stand, except under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_block(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rsplit(".", 1)[0]
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # ``from package import submodule`` imports the submodule.
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name.split(".")[0] == "mde_pyg"}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (names that are not
    modules, such as ``from mde_pyg.nn import Graph``, map to their module).
    A module's own parent packages are left out: Python imports them before
    the module in any case."""
    sources = {module_name(p, root): p for p in root.rglob("*.py")}
    graph = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text(), str(path))
        names = imported_modules(tree, module, path.name == "__init__.py")
        graph[module] = {
            name if name in sources else name.rsplit(".", 1)[0]
            for name in names
            if name in sources or name.rsplit(".", 1)[0] in sources
        }
        graph[module] = {
            target
            for target in graph[module]
            if target != module and not module.startswith(target + ".")
        }
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = part(module), part(target)
            if here not in LAYERS or there not in LAYERS:
                problems.append(f"{module} -> {target}: part without a layer")
            elif here != there and LAYERS[there] >= LAYERS[here]:
                problems.append(
                    f"{module} (layer {LAYERS[here]}) imports {target} "
                    f"(layer {LAYERS[there]})"
                )
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_every_import_points_down_the_layers():
    assert upward_imports(import_graph(SOURCE)) == []


def test_no_modules_import_each_other_in_a_loop():
    assert cycles(import_graph(SOURCE)) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "mde_pyg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "mde_pyg"


def test_an_import_inside_a_function_is_seen(tmp_path):
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "models/__init__.py": "",
            "models/base.py": "def f():\n    from mde_pyg.cli import main\n",
            "cli/__init__.py": "def main(): ...\n",
        },
    )
    assert upward_imports(import_graph(root)) == [
        "mde_pyg.models.base (layer 3) imports mde_pyg.cli (layer 6)"
    ]


def test_a_type_checking_import_is_not_an_import(tmp_path):
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "training/__init__.py": "",
            "training/callback.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from mde_pyg.cli.train import x\n",
            "cli/__init__.py": "",
            "cli/train.py": "x = 1\n",
        },
    )
    assert upward_imports(import_graph(root)) == []


@pytest.mark.parametrize("relative", [True, False])
def test_a_loop_is_found(tmp_path, relative):
    second = "from .a import x\n" if relative else "from mde_pyg.data.a import x\n"
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "data/__init__.py": "",
            "data/a.py": "from mde_pyg.data import b\nx = 1\n",
            "data/b.py": second,
        },
    )
    assert cycles(import_graph(root)) == [["mde_pyg.data.a", "mde_pyg.data.b"]]


def test_a_package_that_imports_a_module_above_it_is_flagged(tmp_path):
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "data/__init__.py": "from mde_pyg.pipeline import run\n",
            "pipeline/__init__.py": "",
            "pipeline/run.py": "",
        },
    )
    assert upward_imports(import_graph(root)) == [
        "mde_pyg.data (layer 2) imports mde_pyg.pipeline (layer 5)",
        "mde_pyg.data (layer 2) imports mde_pyg.pipeline.run (layer 5)",
    ]
