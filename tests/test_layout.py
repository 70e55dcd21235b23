"""The layout's rules, as tests over the package's imports (read from the source, not run).

Layers, from the bottom: errors; the configuration, arrays and the backend registry
(``backends/__init__.py``, a table); ``expr/`` (the expression language, no PyTensor);
``graph/`` (the PyTensor work); the backends (``backends/c``, ``backends/cuda``); the
runtime; the public face (``api``, ``__init__``); and, on top, the command line
(``cli/``) and the benchmark harness (``bench/``). A module imports its own layer or
lower ones, never a higher one, and no two modules import each other, even through
others or inside functions.
"""
import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "elemgrad_gpu"
LAYERS = [  # (module name prefix, layer); the longest matching prefix decides
    ("elemgrad_gpu.errors", 0), ("elemgrad_gpu.compat", 0), ("elemgrad_gpu.config", 1), ("elemgrad_gpu.arrays", 1), ("elemgrad_gpu.cache", 1),
    ("elemgrad_gpu.backends", 1), ("elemgrad_gpu.expr", 2), ("elemgrad_gpu.graph", 3), ("elemgrad_gpu.backends.", 4),
    ("elemgrad_gpu.runtime", 5), ("elemgrad_gpu.adapters", 5), ("elemgrad_gpu.api", 6), ("elemgrad_gpu", 6), ("elemgrad_gpu.__main__", 8),
    ("elemgrad_gpu.cli", 7), ("elemgrad_gpu.bench", 7),
]


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def imports(name: str) -> set[str]:
    """Every module of the package that ``name`` imports, anywhere in it (inside functions and
    ``TYPE_CHECKING`` blocks too), and the outside packages it imports, by top-level name."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m if m in MODULES else m.split(".")[0] for m in found}


GRAPH = {name: {m for m in imports(name) if m in MODULES and m != name} for name in MODULES}


def layer(name: str) -> int:
    return max((p for p in LAYERS if name == p[0] or name.startswith(p[0] + ".") or
                (p[0].endswith(".") and name.startswith(p[0]))), key=lambda p: len(p[0]))[1]


def under(name: str, folder: str) -> bool:
    return name.startswith(f"elemgrad_gpu.{folder}.") or name == f"elemgrad_gpu.{folder}"


def test_expr_imports_neither_graph_nor_backends_nor_pytensor():
    for name in (m for m in MODULES if under(m, "expr")):
        bad = {m for m in imports(name) if m == "pytensor" or under(m, "graph") or under(m, "backends")}
        assert not bad, f"{name} imports {bad}"


def test_backends_never_import_the_runtime_the_cli_or_the_harness():
    for name in (m for m in MODULES if under(m, "backends")):
        bad = {m for m in GRAPH[name] if under(m, "runtime") or under(m, "cli") or under(m, "bench")}
        assert not bad, f"{name} imports {bad}"


def test_nothing_in_the_library_imports_the_cli_or_the_benchmark_harness():
    for name in (m for m in MODULES if not under(m, "cli") and not under(m, "bench")):
        bad = {m for m in GRAPH[name] if under(m, "cli") or under(m, "bench")}
        assert not bad or name == "elemgrad_gpu.__main__" and bad == {"elemgrad_gpu.cli.main"}, f"{name} imports {bad}"
    users = {name for name in MODULES for m in GRAPH[name] if under(m, "bench")}
    assert users <= {"elemgrad_gpu.cli.bench"}, users


def test_only_the_backends_folder_imports_a_backend():
    for name in (m for m in MODULES if not under(m, "backends")):
        bad = {m for m in GRAPH[name] if m.startswith("elemgrad_gpu.backends.")}
        assert not bad, f"{name} imports {bad}: go through the registry, elemgrad_gpu.backends"


def test_no_import_points_up_a_layer():
    upward = [(name, m) for name in MODULES for m in GRAPH[name] if layer(m) > layer(name)]
    assert not upward


def test_no_import_cycles():
    cycles, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for m in sorted(GRAPH[name]):
            if state.get(m) == "open":
                cycles.append(path[path.index(m):] + [m])
            elif m not in state:
                visit(m, path + [m])
        state[name] = "done"

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])
    assert not cycles


SCRIPT = """
import json, sys, numpy as np, elemgrad_gpu as eg
fn = eg.compile("exp(-x**2)*tanh(x)", orders=(0, 1), device="cpu")
value, slope = fn(np.array([0.25, 1.5]))
print(json.dumps({"value": value.tolist(), "pytensor": "pytensor" in sys.modules,
                  "graph": sorted(m for m in sys.modules if m.startswith("elemgrad_gpu.graph."))}))
"""


@pytest.mark.slow
def test_calling_an_already_cached_kernel_leaves_pytensor_out(tmp_path):
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={tmp_path}",
               PYTHONPATH=os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")]))
    first, second = (json.loads(subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                                               text=True, check=True, cwd=tmp_path).stdout) for _ in range(2))
    assert first["pytensor"] and not second["pytensor"]
    # the Plan record and the Source (whose tracing imports PyTensor when it runs), nothing else
    assert set(second["graph"]) <= {"elemgrad_gpu.graph.plan", "elemgrad_gpu.graph.build"}
    want = [math.exp(-v * v) * math.tanh(v) for v in (0.25, 1.5)]
    for run in (first, second):
        assert run["value"] == pytest.approx(want, rel=1e-14)
