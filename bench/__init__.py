"""Scorestream benchmarks: speed is reported here, never asserted in tests."""
