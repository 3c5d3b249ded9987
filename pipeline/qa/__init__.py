"""Quality assurance of the dataset build: per-clip metrics and flags, and the HTML/JSON report.

:func:`clip_qa` measures one clip (detection rate, landmark reprojection error, jitter,
audio/video length mismatch, and errors against ground truth when the generated corpus
has it); :func:`write_report` writes ``qa/report.json`` and ``qa/report.html``.
"""

from .clip import clip_metrics, clip_qa, flags_for
from .config import QAConfig
from .ground_truth import GroundTruth, ground_truth_metrics, load_ground_truth, similarity_align
from .metrics import av_mismatch_s, jitter, mouth_opening, pearson, reprojection_errors
from .report import summarize, write_report

__all__ = [
    "QAConfig", "clip_qa", "clip_metrics", "flags_for", "write_report", "summarize",
    "GroundTruth", "load_ground_truth", "ground_truth_metrics", "similarity_align",
    "jitter", "av_mismatch_s", "mouth_opening", "pearson", "reprojection_errors",
]
