"""The package's layout stays as documented: no import cycle, no cell branches in the engine's
dispatch, and no module writing another object's private attributes."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "numbarnn"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield ".".join(parts), path, is_package


def _imports(name, path, is_package):
    """Every numbarnn module ``name`` imports, at module level or inside functions."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("numbarnn"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("numbarnn"):
                continue
            found.add(target)
            for a in node.names:  # `from . import x` imports the submodule x
                found.add(f"{target}.{a.name}")
    return found


def _import_graph():
    modules = {name: (path, pkg) for name, path, pkg in _modules()}
    graph = {}
    for name, (path, pkg) in modules.items():
        graph[name] = {m for m in _imports(name, path, pkg) if m in modules and m != name}
    return graph


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_parent_packages(graph):
    # `import numbarnn.x.y` also runs numbarnn/x/__init__; a package importing its own
    # submodules is not a cycle, so edges from a module up to its own parent packages are dropped.
    return {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in graph.items()}


def test_the_import_graph_has_no_cycle():
    graph = _without_parent_packages(_import_graph())
    assert graph["numbarnn.models.loading"] >= {"numbarnn.models.sequential", "numbarnn.formats.archive"}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_engine_dispatch_has_no_cell_branches():
    for path in (PACKAGE / "engine").glob("*.py"):
        if path.name == "cells.py":
            continue
        assert "cell ==" not in path.read_text(), path.name


def _private_writes(tree):
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and len(node.args) >= 2:
            obj, attr = node.args[0], node.args[1]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str) and attr.value.startswith("_"):
                if not (isinstance(obj, ast.Name) and obj.id in ("self", "cls")):
                    yield node.lineno, attr.value
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Attribute) and sub.attr.startswith("_") and not sub.attr.startswith("__"):
                    if not (isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls")):
                        yield node.lineno, sub.attr


@pytest.mark.parametrize("name, path", [(n, p) for n, p, _ in _modules()])
def test_no_module_writes_another_objects_private_attributes(name, path):
    assert list(_private_writes(ast.parse(path.read_text()))) == []


def test_the_private_write_finder_finds_one():
    assert list(_private_writes(ast.parse("model._generator = 1\nself._ok = 2\nsetattr(m, '_x', 3)"))) == [
        (1, "_generator"),
        (3, "_x"),
    ]
