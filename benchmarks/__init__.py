"""Reproducible benchmarks with their data generators (see benchmarks/README.md)."""
