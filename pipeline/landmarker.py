"""MediaPipe Face Landmarker (tasks API, VIDEO mode) as a small context manager.

The model bundle ships inside the package (``emoface/morphable/assets/face_landmarker.task``,
Apache-2.0); nothing is downloaded. Use one instance per video: VIDEO mode tracks across
frames and needs strictly increasing timestamps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Detection", "FaceLandmarker", "model_path", "N_LANDMARKS", "BLENDSHAPE_NAMES"]

N_LANDMARKS = 478


def model_path() -> Path:
    """The bundled ``face_landmarker.task`` (override with ``EMOFACE_LANDMARKER_MODEL``)."""
    override = os.environ.get("EMOFACE_LANDMARKER_MODEL")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "emoface" / "morphable" / "assets" / "face_landmarker.task"


@dataclass(frozen=True)
class Detection:
    """One face in one frame.

    - ``landmarks``: (478, 3) float32; x, y in pixels, z in pixels-equivalent scale (MediaPipe's
      normalised z times the image width), relative depth only.
    - ``blendshapes``: (52,) float32 scores in [0, 1], order of :data:`BLENDSHAPE_NAMES`.
    - ``transform``: (4, 4) float32 facial transformation matrix (canonical face -> camera,
      centimetres, OpenGL camera convention).
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    transform: np.ndarray


BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)


class FaceLandmarker:
    """``with FaceLandmarker() as lm: det = lm.detect(rgb_uint8_hxwx3, timestamp_ms)``.

    ``mode="video"`` (default) tracks across frames; ``mode="image"`` treats every frame alone.
    """

    def __init__(self, model: str | Path | None = None, mode: str = "video", min_confidence: float = 0.5):
        path = Path(model) if model is not None else model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: MediaPipe face_landmarker.task not found (it ships in emoface/morphable/assets/; "
                "reinstall the package or set EMOFACE_LANDMARKER_MODEL)"
            )
        from mediapipe.tasks.python import BaseOptions, vision

        running = {"video": vision.RunningMode.VIDEO, "image": vision.RunningMode.IMAGE}[mode]
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=path.read_bytes()),
            running_mode=running,
            num_faces=1,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._mode = mode
        self._lm = vision.FaceLandmarker.create_from_options(opts)
        self._last_ts = -1

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> Detection | None:
        """Landmarks of the most prominent face in an RGB uint8 ``(H, W, 3)`` frame, or ``None``."""
        import mediapipe as mp

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        if self._mode == "video":
            ts = self._last_ts + 1 if timestamp_ms is None else int(timestamp_ms)
            if ts <= self._last_ts:
                ts = self._last_ts + 1
            self._last_ts = ts
            result = self._lm.detect_for_video(image, ts)
        else:
            result = self._lm.detect(image)
        if not result.face_landmarks:
            return None
        pts = result.face_landmarks[0]
        lmk = np.array([(p.x * w, p.y * h, p.z * w) for p in pts], dtype=np.float32)
        if result.face_blendshapes:
            bs = np.array([c.score for c in result.face_blendshapes[0]], dtype=np.float32)
        else:
            bs = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)
        if result.facial_transformation_matrixes:
            tf = np.asarray(result.facial_transformation_matrixes[0], dtype=np.float32).reshape(4, 4)
        else:
            tf = np.eye(4, dtype=np.float32)
        return Detection(lmk, bs, tf)

    def close(self) -> None:
        if self._lm is not None:
            self._lm.close()
            self._lm = None

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
