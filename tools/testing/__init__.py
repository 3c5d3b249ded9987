"""Fixtures and models for tests and benchmarks (not shipped): ``synthetic`` (a FLAME-sized model)."""
