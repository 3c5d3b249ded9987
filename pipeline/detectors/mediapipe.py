"""The default detector: MediaPipe Face Landmarker (478 points, 52 blendshapes, head transform).

A thin adapter of :class:`pipeline.landmarker.FaceLandmarker` (VIDEO mode, the model bundle
ships in the package) to the :class:`~pipeline.detectors.base.Detector` interface.
MediaPipe gives no per-point confidence, so ``confidence`` is ``None`` (1 everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emoface.utils.config import bounded
from pipeline.detectors.base import Detection, distribution_version, file_digest

__all__ = ["MediaPipeConfig", "MediaPipeDetector", "tool_version"]


@dataclass
class MediaPipeConfig:
    """``landmarks.options`` of the ``mediapipe`` detector."""

    #: MediaPipe's face detection / presence / tracking confidence
    min_confidence: float = bounded(0.5, ge=0.0, le=1.0)


def tool_version(cfg: MediaPipeConfig | None = None) -> str:
    """MediaPipe's version and the Face Landmarker bundle's digest (the settings are in the config hash)."""
    from pipeline.landmarker import model_path

    return f"mediapipe {distribution_version('mediapipe') or 'absent'}; model {file_digest(model_path())}"


class MediaPipeDetector:
    scheme = "mediapipe478"
    has_transform = True
    has_confidence = False
    accuracy_note = ""

    def __init__(self, cfg: MediaPipeConfig | None = None, mode: str = "video"):
        from pipeline.landmarker import BLENDSHAPE_NAMES, N_LANDMARKS, FaceLandmarker

        cfg = cfg or MediaPipeConfig()
        self.n_points = N_LANDMARKS
        self.blendshape_names = BLENDSHAPE_NAMES
        self._lm = FaceLandmarker(mode=mode, min_confidence=cfg.min_confidence)

    def detect(self, frame: np.ndarray, timestamp_ms: int) -> Detection | None:
        det = self._lm.detect(frame, timestamp_ms)
        if det is None:
            return None
        return Detection(det.landmarks, None, det.blendshapes, det.transform)

    def close(self) -> None:
        self._lm.close()

    def __enter__(self) -> "MediaPipeDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
