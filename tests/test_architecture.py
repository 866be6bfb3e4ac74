"""The layering of docs/ARCHITECTURE.md, read from the source: imports point one way; the core never imports the app.

Every import counts, the lazy ones inside functions too (they are how a cycle hides); only imports
under `if TYPE_CHECKING:` are left out, since they never run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from helpers import REPO

APP_ONLY = ("streamlit", "studio", "altair")  # what only the app may import


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    """The modules `path` imports (absolute names; `from gan import x` names gan.x when that is a module)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def graph(package: str) -> dict[str, set[str]]:
    """{module: the modules of `package` it imports}, for every module of `package`."""
    files = {module_name(p): p for p in (REPO / package).rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in files and m != name} for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_of_skips_type_checking_and_resolves_relative_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text("from typing import TYPE_CHECKING\nfrom . import other\n"
                                "if TYPE_CHECKING:\n    import streamlit\n"
                                "def f():\n    from pkg.deep import thing\n")
    assert imports_of(pkg / "mod.py") == {"typing", "typing.TYPE_CHECKING", "pkg", "pkg.other", "pkg.deep",
                                          "pkg.deep.thing"}


def test_the_gan_package_has_no_import_cycle():
    assert find_cycle(graph("gan")) is None


def test_the_app_support_has_no_import_cycle():
    assert find_cycle(graph("studio")) is None


@pytest.mark.parametrize("path", sorted((REPO / "gan").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_core_modules_never_import_the_app(path):
    """gan/ runs without Streamlit (the CLI, a notebook, a GPU job): the app depends on it, never the reverse."""
    wrong = sorted(m for m in imports_of(path) if m.split(".")[0] in APP_ONLY)
    assert not wrong, f"{path.relative_to(REPO)} imports {wrong}"


def test_library_modules_never_import_the_command_line():
    """Imports point one way: UI -> CLI -> trainer -> models, data, metrics -> config, files."""
    front = {"gan.cli", "gan.cli_metrics", "gan.__main__", "gan.bench"}
    edges = graph("gan")
    wrong = {m: sorted(edges[m] & front) for m in edges if m not in front and edges[m] & front}
    assert not wrong
