"""The runtime: the compiled function, its specializations, known calls, the device choice and stored plans."""
