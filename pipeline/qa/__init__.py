"""Quality assurance of the dataset build: per-clip metrics and flags, and the HTML/JSON report.

:func:`clip_qa` measures one clip (detection rate, landmark reprojection error, jitter,
audio/video length mismatch, and errors against ground truth when the generated corpus
has it); :func:`write_report` writes ``qa/report.json`` and ``qa/report.html``.

:class:`QAConfig` imports at once; the metrics (torch) on first use, so a build's main
process reads and checks its config without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline._lazy import lazy_exports

from .config import OracleConfig, QAConfig

if TYPE_CHECKING:
    from .clip import clip_metrics, clip_qa, flags_for
    from .ground_truth import GroundTruth, ground_truth_metrics, load_ground_truth, similarity_align
    from .metrics import av_mismatch_s, jitter, mouth_opening, pearson, reprojection_errors
    from .report import summarize, write_report

_LAZY = {
    "clip_qa": "clip", "clip_metrics": "clip", "flags_for": "clip", "write_report": "report", "summarize": "report",
    "GroundTruth": "ground_truth", "load_ground_truth": "ground_truth", "ground_truth_metrics": "ground_truth",
    "similarity_align": "ground_truth", "jitter": "metrics", "av_mismatch_s": "metrics", "mouth_opening": "metrics",
    "pearson": "metrics", "reprojection_errors": "metrics",
}

__all__ = [
    "QAConfig", "OracleConfig", "clip_qa", "clip_metrics", "flags_for", "write_report", "summarize",
    "GroundTruth", "load_ground_truth", "ground_truth_metrics", "similarity_align",
    "jitter", "av_mismatch_s", "mouth_opening", "pearson", "reprojection_errors",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
