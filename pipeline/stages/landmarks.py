"""Stage ``landmarks``: MediaPipe Face Landmarker in VIDEO mode over the streamed frames of one clip.

One landmarker per clip (VIDEO mode tracks across frames; timestamps ``round(k * 1000 / fps)``
ms). The artefact ``work/landmarks/<clip_id>.npz`` holds exactly the fields of
``pipeline.fitting.LandmarkTrack``:

- ``landmarks (T, 478, 3) float32``: x, y in source pixels, z in the same pixel scale
  (relative depth); **zeros where** ``valid`` **is false**;
- ``valid (T,) bool``: a face was found in that frame (frames without one are never
  filled with data: the flag is the only truth);
- ``blendshapes (T, 52) float32`` (zeros where invalid), ``transforms (T, 4, 4) float32``
  (canonical face -> camera, centimetres; identity where invalid);
- ``width``, ``height`` (source pixels), ``fps``.

A clip whose detection rate is below ``landmarks.min_detection_rate`` fails ("no face").
"""

from __future__ import annotations

import numpy as np

from pipeline.stages.config import LandmarksConfig
from pipeline.stages.store import ClipError

__all__ = ["LandmarkCollector", "TRACK_FIELDS"]

TRACK_FIELDS = ("landmarks", "valid", "blendshapes", "transforms", "width", "height", "fps")


class LandmarkCollector:
    """A frame sink: ``feed(index, rgb)`` per frame, then :meth:`arrays`. Use as a context manager."""

    def __init__(self, cfg: LandmarksConfig, fps: float):
        from pipeline.landmarker import BLENDSHAPE_NAMES, N_LANDMARKS, FaceLandmarker

        self.cfg = cfg
        self.fps = float(fps)
        self._n_bs = len(BLENDSHAPE_NAMES)
        self._n_lmk = N_LANDMARKS
        self._lm = FaceLandmarker(mode="video", min_confidence=cfg.min_confidence)
        self._rows: list[tuple[int, np.ndarray | None, np.ndarray | None, np.ndarray | None]] = []
        self.width = 0
        self.height = 0

    def feed(self, index: int, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        self.width, self.height = w, h
        scale = 1.0
        if self.cfg.max_width and w > self.cfg.max_width:
            import cv2

            scale = w / self.cfg.max_width
            frame = cv2.resize(frame, (self.cfg.max_width, max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
        det = self._lm.detect(frame, int(round(index * 1000.0 / self.fps)))
        if det is None:
            self._rows.append((index, None, None, None))
        else:
            self._rows.append((index, det.landmarks * np.float32(scale), det.blendshapes, det.transform))

    def arrays(self) -> dict[str, np.ndarray]:
        """The track as arrays; raises :class:`ClipError` when too few frames hold a face."""
        t = len(self._rows)
        lmk = np.zeros((t, self._n_lmk, 3), np.float32)
        bs = np.zeros((t, self._n_bs), np.float32)
        tf = np.tile(np.eye(4, dtype=np.float32), (t, 1, 1))
        valid = np.zeros(t, bool)
        for i, (index, pts, shapes, transform) in enumerate(self._rows):
            if index != i:
                raise RuntimeError(f"frames arrived out of order ({index} at position {i})")
            if pts is not None:
                lmk[i], bs[i], tf[i], valid[i] = pts, shapes, transform, True
        rate = float(valid.mean()) if t else 0.0
        if not valid.any():
            raise ClipError(f"no face found in any of {t} frames")
        if rate < self.cfg.min_detection_rate:
            raise ClipError(f"face found in only {valid.sum()} of {t} frames ({100 * rate:.0f}% < {100 * self.cfg.min_detection_rate:.0f}%)")
        return {
            "landmarks": lmk,
            "valid": valid,
            "blendshapes": bs,
            "transforms": tf,
            "width": np.int64(self.width),
            "height": np.int64(self.height),
            "fps": np.float64(self.fps),
        }

    def close(self) -> None:
        self._lm.close()

    def __enter__(self) -> "LandmarkCollector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
