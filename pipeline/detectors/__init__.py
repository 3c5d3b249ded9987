"""Landmark detectors behind one interface (:class:`Detector`); see docs/pipeline.md, "Detectors".

Each detector is declared once in :data:`DETECTORS` (:mod:`pipeline.detectors.registry`):

- ``mediapipe`` (default): MediaPipe Face Landmarker, 478 points, 52 blendshapes, head transform;
- ``fan``: face-alignment's FAN (extra ``fan``), 68 iBUG points with per-point confidence
  (accuracy not measured in this project).

To add one: a module with a class that has the :class:`Detector` attributes and ``detect``
(and, if it takes settings, their dataclass), and one :class:`DetectorSpec` in
:data:`DETECTORS`. Its points' scheme must be one of :data:`pipeline.fitting.schemes.SCHEMES`
(add a scheme there with its MediaPipe correspondence when it is new).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.detectors.base import Detection, Detector, DetectorError
from pipeline.detectors.registry import DETECTORS, DetectorRegistry, DetectorSpec

__all__ = ["Detection", "Detector", "DetectorError", "DetectorSpec", "DetectorRegistry", "DETECTORS", "make_detector"]


def make_detector(name: str, options: Mapping[str, object] | None = None,
                  detectors: DetectorRegistry = DETECTORS) -> Detector:
    """A new detector ``name`` with its settings ``options`` (``landmarks.options``; one detector per
    clip: MediaPipe's VIDEO mode tracks across frames); :class:`DetectorError` for an unknown name."""
    spec = detectors[name]
    return spec.make(spec.parse(options))
