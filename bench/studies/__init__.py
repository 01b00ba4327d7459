"""Measurements outside `python -m bench` whose figures docs/benchmarks.md quotes (README.md)."""
