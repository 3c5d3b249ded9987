"""The "Measures against the truth" section of BENCHMARKS.md (results of ``bench.bench_measures``)."""

from __future__ import annotations

from bench.report_sections import _section


def measures_section(R: dict) -> list[str]:
    """Offset errors and emotion recognisability, fitted / oracle / truth, per seed and photo."""
    d, lines = _section(R, "measures", "## Measures against the truth: offsets and emotion recognisability")
    if d is None:
        return lines
    from bench.bench_measures import markdown

    return lines + [markdown(d), ""]
