"""Benchmarks: each figure is a ratio of two sides measured in the same process (docs/performance.md)."""
