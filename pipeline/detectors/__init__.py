"""Landmark detectors behind one interface (:class:`Detector`); see docs/pipeline.md, "Detectors".

- ``mediapipe`` (default): MediaPipe Face Landmarker, 478 points, 52 blendshapes, head transform;
- ``fan``: face-alignment's FAN (extra ``fan``), 68 iBUG points with per-point confidence
  (accuracy not measured in this project).

To add one: a class with the :class:`Detector` attributes and ``detect``, its settings in
:mod:`pipeline.detectors.config`, a branch in :func:`make_detector` and its name in
``DETECTOR_NAMES``. Its points' scheme must be one of :data:`pipeline.fitting.schemes.SCHEMES`
(add a scheme there with its MediaPipe correspondence when it is new).
"""

from __future__ import annotations

from pipeline.detectors.base import Detection, Detector, DetectorError
from pipeline.detectors.config import DETECTOR_NAMES, FanConfig

__all__ = ["Detection", "Detector", "DetectorError", "FanConfig", "DETECTOR_NAMES", "make_detector"]


def make_detector(name: str, min_confidence: float = 0.5, fan: FanConfig | None = None) -> Detector:
    """A new detector ``name`` (one per clip: MediaPipe's VIDEO mode tracks across frames)."""
    if name == "mediapipe":
        from pipeline.detectors.mediapipe import MediaPipeDetector

        return MediaPipeDetector(min_confidence=min_confidence)
    if name == "fan":
        from pipeline.detectors.fan import FanDetector

        return FanDetector(fan)
    raise DetectorError(f"unknown detector {name!r} (choose one of {', '.join(DETECTOR_NAMES)})")
