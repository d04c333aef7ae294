"""The package's dependencies point one way, and hidden (function-local) imports are only there for a reason.

The import graph is rebuilt from the source with :mod:`ast`, function-local
imports included, so a cycle cannot hide inside a function. Layers, lowest
first (a module may import its own layer or lower ones, never a higher one,
and packages of one layer must not import each other in a cycle):

0. the shared base: ``errors``, ``_version``, ``strict_json``, ``_pool``, ``_progress``
1. ``io``, ``metrics``, ``bitstream``
2. ``analysis``, ``models`` (and ``weights``, their package data)
3. ``strategies``
4. ``agents``, ``training``, ``settings``, ``report``, ``codec_config``
5. ``bench``, ``api`` and the package facade (``neurocodec/__init__.py``)
6. ``experiments``
7. the CLI (``cli/``, installed as ``neurocodec_cli``)

Inside ``neurocodec/`` a function-local import is allowed only for what is
heavy to load (torch, compressai, OpenCV, Optuna, ...; or a module of ours
that loads one of them when imported) or optional (an extra such as Dask or
fsspec, which may not be installed), so that ``neurocodec --help`` and the
classical paths stay light; each says why in a comment on its line, or on the
line above its block of imports. The CLI imports lazily by design.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "neurocodec"

LAYERS = {
    "errors": 0, "_version": 0, "strict_json": 0, "_pool": 0, "_progress": 0,
    "io": 1, "metrics": 1, "bitstream": 1,
    "analysis": 2, "models": 2, "weights": 2,
    "strategies": 3,
    "agents": 4, "training": 4, "settings": 4, "report": 4, "codec_config": 4,
    "bench": 5, "api": 5, "__init__": 5,
    "experiments": 6,
    "cli": 7,
}
#: Third-party packages slow to import (seconds), or optional (extras that may be absent): only these
#: justify a function-local import.
HEAVY = {"torch", "torchvision", "compressai", "cv2", "optuna", "optuna_dashboard", "matplotlib", "onnx",
         "onnxruntime", "pydantic", "psycopg", "bjontegaard", "dask", "distributed", "fsspec"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = p
    for p in (ROOT / "cli").glob("*.py"):
        out["neurocodec_cli" + ("" if p.stem == "__init__" else f".{p.stem}")] = p
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute module names an ``ImportFrom`` refers to (``from . import x`` may name submodules)."""
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    names = [f"{target}.{a.name}" for a in node.names]
    return [n for n in names if n in MODULES] or [target]


def _imports(module: str, path: Path):
    """``(target, lineno, local)`` for each import in a module; local: inside a function."""
    tree = ast.parse(path.read_text())
    local_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    # Imports under ``if TYPE_CHECKING:`` never run: annotations only.
    typing_only = {id(n) for f in ast.walk(tree) if isinstance(f, ast.If) and "TYPE_CHECKING" in ast.unparse(f.test)
                   for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            for t in _resolve(module, path, node):
                yield t, node.lineno, id(node) in local_nodes
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno, id(node) in local_nodes


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "neurocodec_cli":
        return "cli"
    if parts[0] != "neurocodec":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


EDGES = {m: list(_imports(m, p)) for m, p in MODULES.items()}


def test_every_package_has_a_layer():
    assert {_package(m) for m in MODULES} <= set(LAYERS)


def test_no_module_imports_a_higher_layer():
    upward = []
    for m, edges in EDGES.items():
        for t, line, local in edges:
            a, b = _package(m), _package(t)
            if b is not None and a != b and LAYERS[b] > LAYERS[a]:
                upward.append(f"{MODULES[m].relative_to(ROOT)}:{line} ({a}) imports {t} ({b}){' in a function' if local else ''}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_packages():
    graph = defaultdict(set)
    for m, edges in EDGES.items():
        for t, _, _ in edges:
            a, b = _package(m), _package(t)
            if b is not None and a != b:
                graph[a].add(b)
    assert not _cycles(graph)


def test_no_cycle_between_modules():
    graph = {m: {t for t, _, _ in edges if t in MODULES and t != m} for m, edges in EDGES.items()}
    # A package's __init__ re-exporting its modules is not a cycle of behaviour.
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    assert not _cycles(graph)


def _heavy_modules() -> set[str]:
    """Our modules that load a heavy package when imported (through their top-level imports)."""
    heavy = set()
    changed = True
    while changed:
        changed = False
        for m, edges in EDGES.items():
            if m in heavy:
                continue
            if any(not local and (t.split(".")[0] in HEAVY or t in heavy) for t, _, local in edges):
                heavy.add(m)
                changed = True
    return heavy


def _explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, on a line of its block of imports, or on the line above that block."""
    i = lineno - 1
    while i > 0 and lines[i - 1].strip().startswith(("import ", "from ")):
        i -= 1
    j = lineno - 1
    while j + 1 < len(lines) and lines[j + 1].strip().startswith(("import ", "from ")):
        j += 1
    block = lines[max(i - 1, 0): j + 1]
    return any("#" in line for line in block)


def test_function_local_imports_are_heavy_and_explained():
    heavy = _heavy_modules()
    bad = []
    for m, edges in EDGES.items():
        if _package(m) == "cli":
            continue
        path = MODULES[m]
        lines = path.read_text().splitlines()
        for t, line, local in edges:
            if not local:
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {t}"
            if t.split(".")[0] not in HEAVY and t not in heavy:
                bad.append(f"{where}: light, import it at the top of the module")
            elif not _explained(lines, line):
                bad.append(f"{where}: say why it is imported here (a comment)")
    assert not bad, f"{len(bad)} function-local imports:\n" + "\n".join(sorted(bad))
