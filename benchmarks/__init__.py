"""Benchmarks: the engine against a plain hand-written PyTorch loop, measured
alternately in one process (``make bench`` = ``python -m benchmarks.run_all``)."""
