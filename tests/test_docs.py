"""Every example in README.md, docs/ and the docstrings runs and does what it says."""
import doctest
import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MODULES = ["elemgrad_gpu", "elemgrad_gpu.api", "elemgrad_gpu.graph.functions", "elemgrad_gpu.expr.parse",
           "elemgrad_gpu.bench.peers"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_python_blocks_in_documents_run(document):
    blocks = re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.DOTALL)
    if any("import torch" in block for block in blocks):
        pytest.importorskip("torch")  # docs/TORCH.md: PyTorch is no dependency (CI installs its CPU build)
    namespace: dict = {}
    for block in blocks:  # the blocks of one document build on each other
        exec(compile(block, str(document), "exec"), namespace)  # noqa: S102 - our own documentation


def test_readme_has_python_examples():
    assert re.findall(r"```python\n", (ROOT / "README.md").read_text())


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_kernel_templates_ship_with_the_package():
    package = ROOT / "elemgrad_gpu"
    for name in ("backends/c/elemwise.c", "backends/cuda/elemwise.cu", "backends/cuda/scalar_types.h",
                 "graph/special.h", "graph/incomplete.h"):
        assert (package / name).is_file(), name


def console_sessions(document: Path) -> list[list[tuple[str, list[str]]]]:
    """Each ```console block as (command, expected output lines) pairs."""
    sessions = []
    for block in re.findall(r"```console\n(.*?)```", document.read_text(), flags=re.DOTALL):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                steps[-1][1].append(line)
        sessions.append(steps)
    return sessions


def as_installed(command: str) -> list[str]:
    """The command with `elemgrad` and `python` bound to this interpreter."""
    words = shlex.split(command)
    head = {"elemgrad": [sys.executable, "-m", "elemgrad_gpu"], "python": [sys.executable]}[words[0]]
    return head + words[1:]


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if console_sessions(d)], ids=lambda p: p.name)
def test_console_examples_run_and_print_what_they_show(document, tmp_path):
    for session in console_sessions(document):
        for command, expected in session:
            result = subprocess.run(as_installed(command), cwd=tmp_path, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
            assert expected == [] or result.stdout.splitlines() == expected, command


def test_every_function_has_its_line_in_the_table_of_expressions_md():
    """docs/EXPRESSIONS.md's "Every function" table (tests/mpref/table.py writes it) names every row of the
    vocabulary with its reference's arguments, domain, derivatives and note: adding a row, or changing its
    reference, without documenting it fails here."""
    from elemgrad_gpu.expr.vocabulary import FUNCTIONS
    from mpref import ALL
    from mpref.table import cells, section

    table = section((ROOT / "docs" / "EXPRESSIONS.md").read_text())
    assert table, "docs/EXPRESSIONS.md has no table of every function: run python -m mpref.table (tests/mpref/table.py)"
    documented = {}
    for line in table.splitlines():
        parts = [part.strip() for part in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(parts) == 6:
            documented[parts[0]] = parts
    for row in FUNCTIONS:
        want = cells(row, ALL.get(row.name))
        assert want[0] in documented, f"{row.name} is not in the table: run python -m mpref.table"
        got = documented[want[0]]
        assert got[:4] + got[5:] == want, f"{row.name}: the table says {got}, its reference {want}: rerun the table"
        assert re.fullmatch(r"(-|0|\d\.\de-\d\d) / (-|0|\d\.\de-\d\d)", got[4]), got[4]
