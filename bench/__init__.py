"""Benchmarks of the Territoires broker: `python -m bench` (see bench/README.md)."""
