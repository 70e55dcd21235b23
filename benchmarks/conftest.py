"""Benchmarks: run with `pytest benchmarks/` (pytest-benchmark); peers side by side.

The largest size (n = 10^8) is opt-in: `pytest benchmarks/ --bench-large`.
"""
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-large", action="store_true",
                     help="also run the benchmarks marked large (n = 10^8: GBs of memory, minutes)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the `large` benchmarks unless --bench-large is given."""
    if config.getoption("--bench-large"):
        return
    large = [item for item in items if "large" in item.keywords]
    if large:
        config.hook.pytest_deselected(items=large)
        items[:] = [item for item in items if "large" not in item.keywords]
