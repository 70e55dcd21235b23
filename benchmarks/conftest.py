"""Benchmarks: run with `pytest benchmarks/` (pytest-benchmark); peers side by side."""
