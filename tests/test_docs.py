"""Every example in README.md, docs/ and the docstrings runs and does what it says."""
import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MODULES = ["elemgrad_gpu", "elemgrad_gpu.api", "elemgrad_gpu.functions", "elemgrad_gpu.parse"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_python_blocks_in_documents_run(document):
    blocks = re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.DOTALL)
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
    from elemgrad_gpu.kernels_dir import kernel_path

    for name in ("elemwise.c", "special.h"):
        assert kernel_path(name).is_file(), name
