"""Benchmark suites: python -m benchmarks --help."""
