"""``build-dataset``'s closing summary, printed from the typed :class:`pipeline.build.BuildSummary` records."""

from __future__ import annotations

from pipeline.build import BuildSummary
from pipeline.commands import _print_summary
from pipeline.sources.manifest import Skipped
from pipeline.stages.records import Failure, ReportStatus, SplitStatus


def test_summary_lists_splits_report_bad_inputs_and_failures(capsys):
    summary = BuildSummary(
        out="/o", executor="in-process (1 worker)", n_clips=2, n_ok=1,
        failures=[Failure("01-01-03-01-01-01-01", "Actor_01", "decode", "no audio track")],
        bad_inputs=[Skipped("/r/take-2.mp4", "not a RAVDESS name", "bad")], filtered=3,
        splits={"train": SplitStatus("/o/train.h5", 1, "written")}, report=ReportStatus("cached", "/o/qa/report.html"),
    )
    _print_summary(summary)
    err = capsys.readouterr().err
    assert "1/2 clips built" in err and "3 input(s) filtered out" in err
    assert "train: 1 clips, written -> /o/train.h5" in err
    assert "QA report: /o/qa/report.html (cached)" in err
    assert "2 failure(s)" in err and "/r/take-2.mp4" in err and "not a RAVDESS name" in err and "no audio track" in err
    d = summary.to_dict()
    assert d["bad_inputs"] == [{"path": "/r/take-2.mp4", "reason": "not a RAVDESS name", "kind": "bad"}]
    assert d["report"] == {"status": "cached", "path": "/o/qa/report.html"} and d["exit_code"] == 1
