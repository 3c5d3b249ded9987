"""Benchmarks of EmoFace-3D (not an installed package: run from the repository root).

``python -m bench.run_all`` (``make bench``) runs them all and rewrites BENCHMARKS.md;
``python -m bench.run_all --quick`` is the few-minute version. Each ``bench_*`` module also
runs alone (``python -m bench.bench_build --help``).
"""
