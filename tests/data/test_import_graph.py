"""The modules of :mod:`mde_pyg.data` and :mod:`mde_pyg.evaluation` import
each other one way: no cycle, counting imports inside functions too (only
those under ``if TYPE_CHECKING:`` are left out, since they never run)."""

import ast
from pathlib import Path

import pytest

import mde_pyg

SRC = Path(mde_pyg.__file__).resolve().parent


def imported_siblings(tree: ast.AST, package: str, siblings: set[str]) -> set[str]:
    """The modules of ``package`` (of ``siblings``) that ``tree`` imports."""
    found = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith(package + "."):
                module = name[len(package) + 1 :].split(".")[0]
                if module in siblings:
                    found.add(module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    folder = SRC / package.removeprefix("mde_pyg.").replace(".", "/")
    paths = {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}
    return {
        module: imported_siblings(ast.parse(path.read_text()), package, set(paths))
        - {module}
        for module, path in paths.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                return stack[stack.index(other) :] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


@pytest.mark.parametrize("package", ["mde_pyg.data", "mde_pyg.evaluation"])
def test_the_modules_of_a_package_import_one_way(package):
    graph = import_graph(package)
    assert len(graph) > 1
    assert find_cycle(graph) is None


def test_the_check_sees_a_cycle_and_function_level_imports():
    tree = ast.parse(
        "def f():\n    from mde_pyg.data.b import x\n"
        "if TYPE_CHECKING:\n    from mde_pyg.data.c import y\n"
    )
    assert imported_siblings(tree, "mde_pyg.data", {"a", "b", "c"}) == {"b"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
