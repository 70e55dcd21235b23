"""The benchmark harness: the peers timed against elemgrad_gpu (``peers.py``).

Used by ``elemgrad bench`` and by benchmarks/; nothing else in the library imports it.
"""
