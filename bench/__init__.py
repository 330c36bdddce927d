"""Benchmarks: each module prints its figures and the command line that reproduces them."""
