"""Benchmarks: `make bench-core` (the engine alone) and, later, the streaming harness."""
