"""Stage ``landmarks``: the configured detector (``landmarks.detector``, :mod:`pipeline.detectors`)
over the streamed frames of one clip.

One detector per clip (MediaPipe's VIDEO mode tracks across frames; timestamps
``round(k * 1000 / fps)`` ms). The artefact ``work/landmarks/<clip_id>.npz`` holds the
fields of :meth:`pipeline.fitting.LandmarkTrack.arrays`:

- ``landmarks (T, N, 3) float32``: x, y in source pixels, z in the same pixel scale
  (relative depth; 0 for a 2D detector); **zeros where** ``valid`` **is false**; N and the
  point order are those of ``scheme`` (``mediapipe478``: 478, ``ibug68``: 68);
- ``valid (T,) bool``: a face was found in that frame (frames without one are never
  filled with data: the flag is the only truth);
- ``scheme``; ``width``, ``height`` (source pixels), ``fps``; ``detector`` (its name) and, when
  its accuracy is not measured here, ``detector_note`` (the QA report repeats it);
- only when the detector gives them: ``confidence (T, N) float32`` (zeros where invalid),
  ``blendshapes (T, B) float32`` and ``blendshape_names (B,)`` (zeros where invalid),
  ``transforms (T, 4, 4) float32`` (canonical face -> camera, centimetres; identity where
  invalid). MediaPipe gives blendshapes and transforms, no confidence; FAN only confidence.

A clip whose detection rate is below ``landmarks.min_detection_rate`` fails ("no face").
"""

from __future__ import annotations

import numpy as np

from pipeline.detectors.base import Detection
from pipeline.detectors.registry import DETECTORS, DetectorRegistry
from pipeline.stages.config import LandmarksConfig
from pipeline.stages.store import ClipError

__all__ = ["LandmarkCollector", "TRACK_FIELDS"]

TRACK_FIELDS = ("landmarks", "valid", "scheme", "width", "height", "fps")


class LandmarkCollector:
    """A frame sink: ``feed(index, rgb)`` per frame, then :meth:`arrays`. Use as a context manager."""

    def __init__(self, cfg: LandmarksConfig, fps: float, detectors: DetectorRegistry = DETECTORS):
        from pipeline.detectors import make_detector

        self.cfg = cfg
        self.fps = float(fps)
        self._det = make_detector(cfg.detector, cfg.options, detectors)
        self._rows: list[tuple[int, Detection | None]] = []
        self.width = 0
        self.height = 0

    @property
    def accuracy_note(self) -> str:
        """One line when the detector's accuracy is not measured in this project ("" otherwise)."""
        return self._det.accuracy_note

    def feed(self, index: int, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        self.width, self.height = w, h
        scale = 1.0
        if self.cfg.max_width and w > self.cfg.max_width:
            import cv2

            scale = w / self.cfg.max_width
            frame = cv2.resize(frame, (self.cfg.max_width, max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
        det = self._det.detect(frame, int(round(index * 1000.0 / self.fps)))
        if det is not None and scale != 1.0:
            from dataclasses import replace

            det = replace(det, landmarks=det.landmarks * np.float32(scale))
        self._rows.append((index, det))

    def arrays(self) -> dict[str, np.ndarray]:
        """The track as arrays; raises :class:`ClipError` when too few frames hold a face."""
        d = self._det
        t = len(self._rows)
        lmk = np.zeros((t, d.n_points, 3), np.float32)
        conf = np.zeros((t, d.n_points), np.float32) if d.has_confidence else None
        bs = np.zeros((t, len(d.blendshape_names)), np.float32) if d.blendshape_names else None
        tf = np.tile(np.eye(4, dtype=np.float32), (t, 1, 1)) if d.has_transform else None
        valid = np.zeros(t, bool)
        for i, (index, det) in enumerate(self._rows):
            if index != i:
                raise RuntimeError(f"frames arrived out of order ({index} at position {i})")
            if det is None:
                continue
            lmk[i], valid[i] = det.landmarks, True
            if conf is not None:
                conf[i] = 1.0 if det.confidence is None else det.confidence
            if bs is not None and det.blendshapes is not None:
                bs[i] = det.blendshapes
            if tf is not None and det.transform is not None:
                tf[i] = det.transform
        rate = float(valid.mean()) if t else 0.0
        if not valid.any():
            raise ClipError(f"no face found in any of {t} frames")
        if rate < self.cfg.min_detection_rate:
            raise ClipError(f"face found in only {valid.sum()} of {t} frames ({100 * rate:.0f}% < {100 * self.cfg.min_detection_rate:.0f}%)")
        out = {
            "landmarks": lmk,
            "valid": valid,
            "scheme": np.str_(d.scheme),
            "width": np.int64(self.width),
            "height": np.int64(self.height),
            "fps": np.float64(self.fps),
            "detector": np.str_(self.cfg.detector),
        }
        if d.accuracy_note:
            out["detector_note"] = np.str_(d.accuracy_note)
        if conf is not None:
            out["confidence"] = conf
        if bs is not None:
            out["blendshapes"] = bs
            out["blendshape_names"] = np.array(d.blendshape_names, dtype=np.str_)
        if tf is not None:
            out["transforms"] = tf
        return out

    def close(self) -> None:
        self._det.close()

    def __enter__(self) -> "LandmarkCollector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
