"""Synthetic regions for the demo, the tests and the benchmarks."""
