"""The benchmark harness (the peers timed against elemgrad_gpu): used by ``elemgrad bench`` and benchmarks/, never by the library."""
