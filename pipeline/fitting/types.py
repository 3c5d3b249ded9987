"""Records passed between the landmarks, fit, smooth and canonical stages.

All arrays are numpy; pixels for image quantities, metres and radians for 3D ones. Every
record can be written to and read from one ``.npz`` (no pickles).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.mesh.camera import PinholeCamera

__all__ = ["FitError", "LandmarkTrack", "IdentityFit", "ClipFit", "inter_ocular_px"]

# MediaPipe-478 outer eye corners (right eye 33, left eye 263): the inter-ocular distance
# used to normalise landmark errors (the iBUG "outer corners" convention, points 36/45).
OUTER_EYE_CORNERS = (33, 263)


class FitError(RuntimeError):
    """A fit that cannot be done or diverged; the message is one line naming the clip."""


@dataclass
class LandmarkTrack:
    """What the landmarks stage produces for one clip.

    - ``landmarks (T, 478, 3)`` float32: x, y in pixels, z relative depth (MediaPipe);
      rows of frames without a detection are ignored (``valid`` False).
    - ``valid (T,)`` bool: a face was detected in the frame.
    - ``blendshapes (T, 52)`` float32: MediaPipe blendshape scores in [0, 1].
    - ``transforms (T, 4, 4)`` float32: MediaPipe facial transformation matrix (canonical
      face centimetres -> camera centimetres, OpenGL convention).
    - ``width``, ``height``: image size in pixels; ``fps``: frame rate; ``clip_id``: name.
    """

    landmarks: np.ndarray
    valid: np.ndarray
    blendshapes: np.ndarray
    transforms: np.ndarray
    width: int
    height: int
    fps: float = 30.0
    clip_id: str = ""

    def __post_init__(self) -> None:
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool).reshape(-1)
        self.blendshapes = np.asarray(self.blendshapes, dtype=np.float32)
        self.transforms = np.asarray(self.transforms, dtype=np.float32)
        t = len(self.valid)
        if self.landmarks.ndim != 3 or self.landmarks.shape[0] != t or self.landmarks.shape[2] not in (2, 3):
            raise ValueError(f"{self.clip_id or 'track'}: landmarks must be (T, N, 2|3) with T={t}, got {self.landmarks.shape}")
        if self.blendshapes.shape[0] != t or self.transforms.shape != (t, 4, 4):
            raise ValueError(
                f"{self.clip_id or 'track'}: blendshapes {self.blendshapes.shape} / transforms {self.transforms.shape} "
                f"do not match T={t}"
            )

    @property
    def n_frames(self) -> int:
        return len(self.valid)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically."""
        from emoface.utils.atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, landmarks=self.landmarks, valid=self.valid, blendshapes=self.blendshapes,
                     transforms=self.transforms, width=self.width, height=self.height, fps=self.fps,
                     clip_id=self.clip_id)

    @classmethod
    def load(cls, path: str | Path) -> "LandmarkTrack":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["landmarks"], z["valid"], z["blendshapes"], z["transforms"], int(z["width"]),
                       int(z["height"]), float(z["fps"]), str(z["clip_id"]) if "clip_id" in z else "")


def inter_ocular_px(landmarks: np.ndarray) -> np.ndarray:
    """Outer-eye-corner distance in pixels of MediaPipe landmarks ``(..., 478, 2|3)`` -> ``(...)``."""
    a, b = OUTER_EYE_CORNERS
    return np.linalg.norm(landmarks[..., a, :2] - landmarks[..., b, :2], axis=-1)


@dataclass
class IdentityFit:
    """One actor's shape and camera.

    ``shape (S,)`` coefficients (the model's first S), ``camera`` (focal possibly estimated),
    ``n_frames`` frames used, ``error_iod`` median landmark reprojection error over those
    frames (fraction of the inter-ocular distance), ``focal_estimated``, ``embedding`` name,
    ``model_name``, ``converged``.
    """

    shape: np.ndarray
    camera: PinholeCamera
    n_frames: int
    error_iod: float
    focal_estimated: bool
    embedding: str
    model_name: str
    converged: bool = True

    def save(self, path: str | Path) -> None:
        from emoface.utils.atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, shape=np.asarray(self.shape, np.float32), camera=self.camera.as_array(),
                     n_frames=self.n_frames, error_iod=self.error_iod, focal_estimated=self.focal_estimated,
                     embedding=self.embedding, model_name=self.model_name, converged=self.converged)

    @classmethod
    def load(cls, path: str | Path) -> "IdentityFit":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["shape"].astype(np.float32), PinholeCamera.from_array(z["camera"]), int(z["n_frames"]),
                       float(z["error_iod"]), bool(z["focal_estimated"]), str(z["embedding"]),
                       str(z["model_name"]), bool(z["converged"]))


@dataclass
class ClipFit:
    """Per-frame parameters of one clip (what the fit and smooth stages produce).

    - ``shape (S,)``; ``expression (T, E)``; ``jaw (T, 3)`` rad; ``neck (T, 3)`` and ``eyes (T, 6)``
      (not fitted: zeros, kept for the FLAME parameter layout);
    - ``head_rotation (T, 3)`` axis-angle rad and ``head_translation (T, 3)`` metres, world ->
      camera: ``X_cam = R(head_rotation) @ X_model + head_translation``;
    - ``camera``: the fixed pinhole camera of the video;
    - ``fit_error (T,)``: mean landmark reprojection error in pixels, ``-1`` where the frame had
      no detection (its parameters are interpolated, see ``interpolated``);
    - ``fit_error_iod (T,)``: the same as a fraction of the inter-ocular distance (``-1`` too);
    - ``valid (T,)`` detection flags; ``interpolated (T,)`` frames whose parameters come from
      the neighbours only; ``converged``; ``iterations``; ``embedding``; ``smoothed``.
    """

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    head_rotation: np.ndarray
    head_translation: np.ndarray
    camera: PinholeCamera
    fit_error: np.ndarray
    fit_error_iod: np.ndarray
    valid: np.ndarray
    interpolated: np.ndarray
    converged: bool
    iterations: int
    embedding: str
    smoothed: bool = False
    neck: np.ndarray | None = None
    eyes: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = len(self.expression)
        if self.neck is None:
            self.neck = np.zeros((t, 3), np.float32)
        if self.eyes is None:
            self.eyes = np.zeros((t, 6), np.float32)

    @property
    def n_frames(self) -> int:
        return len(self.expression)

    def params(self) -> dict[str, np.ndarray]:
        """The HDF5 ``params`` group (float32; ``camera`` is ``[fx, fy, cx, cy, w, h]``)."""
        f = np.float32
        return {
            "shape": np.asarray(self.shape, f), "expression": np.asarray(self.expression, f),
            "jaw": np.asarray(self.jaw, f), "neck": np.asarray(self.neck, f), "eyes": np.asarray(self.eyes, f),
            "head_rotation": np.asarray(self.head_rotation, f),
            "head_translation": np.asarray(self.head_translation, f),
            "camera": self.camera.as_array().astype(f),
        }

    def replace(self, **changes) -> "ClipFit":
        return dataclasses.replace(self, **changes)

    _ARRAYS = ("shape", "expression", "jaw", "head_rotation", "head_translation", "fit_error", "fit_error_iod",
               "valid", "interpolated", "neck", "eyes")

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically."""
        from emoface.utils.atomic import atomic_path

        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, camera=self.camera.as_array(), converged=self.converged, iterations=self.iterations,
                     embedding=self.embedding, smoothed=self.smoothed, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "ClipFit":
        with np.load(path, allow_pickle=False) as z:
            kw = {k: z[k] for k in cls._ARRAYS}
            return cls(camera=PinholeCamera.from_array(z["camera"]), converged=bool(z["converged"]),
                       iterations=int(z["iterations"]), embedding=str(z["embedding"]), smoothed=bool(z["smoothed"]),
                       **kw)
