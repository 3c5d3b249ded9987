"""bench.report.splice: ``run_all --only NAME`` replaces the sections it measured and keeps every other one."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from bench.report import splice, write_report  # noqa: E402

OLD = """# Benchmarks

## Machine

old machine

## Headline: ratios

old headline

## Fitting accuracy

old fit numbers

## Measures against the truth

old measures

## Model and training

### Training step

old train
"""

NEW = """# Benchmarks

## Machine

new machine

## Headline: ratios

partial headline

## Fitting accuracy

*Not measured yet: `python -m bench.run_all --only fit`.*

## Measures against the truth

new measures

## Fit levers

new levers

## Model and training

### Training step

*Not measured yet: `python -m bench.run_all --only train`.*
"""


def test_splice_replaces_measured_sections_and_keeps_the_rest():
    out = splice(OLD, NEW)
    assert "new measures" in out and "old measures" not in out
    assert "old fit numbers" in out and "Not measured yet" not in out  # unmeasured here: kept
    assert "old train" in out
    assert "old machine" in out and "old headline" in out  # summaries of every section: kept
    # a section the old report lacks goes after the one before it in the new report
    assert out.index("## Measures against") < out.index("## Fit levers") < out.index("## Model and training")
    assert splice(out, NEW) == out  # idempotent


def test_write_report_partial_keeps_other_sections(tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(OLD)
    (tmp_path / "results").mkdir()
    write_report(tmp_path / "results", md, partial=True)  # no results at all: nothing measured
    assert md.read_text() == OLD.rstrip() + "\n"
    write_report(tmp_path / "results", md)  # a full render: nothing carried over
    assert "old fit numbers" not in md.read_text()
