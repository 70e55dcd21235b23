"""The ``elemgrad`` command line (``python -m elemgrad_gpu``, entry point ``elemgrad_gpu.cli.main:main``).

Nothing in the library imports this package.
"""
