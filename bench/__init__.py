"""Benchmarks: the service beside a plain boto3 loop, against the same stand-in, side by side.

``python -m bench`` (or ``make bench``) runs every scenario and prints a table;
bench/studies/ holds the measurements outside it. docs/benchmarks.md records
the figures and how to reproduce them.
"""
