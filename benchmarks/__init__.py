"""Benchmarks for flexiti-async: ``python -m benchmarks [scenario ...] [--quick]``.

Not part of the package and never run by the test suite. See ``benchmarks/README.md``.
"""
