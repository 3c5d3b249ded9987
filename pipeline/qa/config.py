"""Thresholds of the per-clip QA flags and report settings (defaults live here)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QAConfig", "OracleConfig"]


@dataclass
class QAConfig:
    """A clip is flagged when any metric crosses its threshold (the flag names the metric).

    - ``min_detection_rate``: fraction of frames with a detected face;
    - ``max_reprojection_iod``: median landmark reprojection error, fraction of the
      inter-ocular distance (outer eye corners);
    - ``max_jitter_mm``: mean vertex acceleration ``|v[t+1] - 2 v[t] + v[t-1]|`` of the
      front-facing mesh, millimetres per frame^2;
    - ``max_av_mismatch_s``: ``|n_frames / fps - audio duration|``, seconds;
    - with ground truth: ``max_vertex_error_mm`` (whole face, mean) and
      ``min_mouth_correlation`` (Pearson r of the mouth opening).

    Flags pick clips for review, so each threshold sits above what a sound fit of the corpus
    gives. ``max_vertex_error_mm`` is 5 mm, not the issue's 2.0 mm accuracy goal: that goal is
    a benchmark of the whole corpus (BENCHMARKS.md, "Fitting accuracy"), and as a flag it would
    mark every generated clip (2.8-4.3 mm in the `make demo` build of 2026-11-29, for the
    detector's bias explained in docs/fitting.md) and hide the outliers it is there to show.
    """

    min_detection_rate: float = 0.9
    max_reprojection_iod: float = 0.03
    max_jitter_mm: float = 0.5
    max_av_mismatch_s: float = 0.1
    max_vertex_error_mm: float = 5.0
    min_mouth_correlation: float = 0.9
    # report
    thumbnail_size: int = 160  # px, square face crop with landmarks and the fitted mesh
    pair_size: int = 320  # px, each half of the most expressive frame beside its mesh (0: no picture)
    plot_points: int = 240  # at most this many points per curve in the inline SVG plots


@dataclass
class OracleConfig:
    """The oracle of the build's report (``build-dataset ravdess --oracle``; docs/fitting.md, "The oracle").

    - ``enabled``: where the corpus has ground truth, fit each such clip a second time from its
      true landmark positions + ``noise_px`` of Gaussian noise (one identity fit per actor) and
      show the oracle's measures beside the build's. Off by default: it costs a second fit of
      those clips, in the report task. A section of its own, so that turning it on or off redoes
      the report only, not the per-clip QA.
    """

    enabled: bool = False
    noise_px: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled must be true or false, got {self.enabled!r}")
        if not (isinstance(self.noise_px, (int, float)) and 0.0 <= self.noise_px < float("inf")):
            raise ValueError(f"noise_px must be a finite number >= 0, got {self.noise_px!r}")
