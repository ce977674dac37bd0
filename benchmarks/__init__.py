"""Benchmarks: ``python3 scripts/bench.py`` runs them all and prints one table."""
