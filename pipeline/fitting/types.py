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

from .schemes import DEFAULT_SCHEME, scheme

__all__ = ["FitError", "LandmarkTrack", "IdentityFit", "ClipFit", "inter_ocular_px"]

class FitError(RuntimeError):
    """A fit that cannot be done or diverged; the message is one line naming the clip."""


@dataclass
class LandmarkTrack:
    """What the landmarks stage produces for one clip (any detector, see ``pipeline.detectors``).

    - ``landmarks (T, N, 2|3)`` float32: x, y in pixels, z (when present) relative depth, in
      the point order of ``scheme`` (``mediapipe478``: N = 478; ``ibug68``: N = 68, see
      :mod:`pipeline.fitting.schemes`); rows of frames without a detection are ignored
      (``valid`` False).
    - ``valid (T,)`` bool: a face was detected in the frame.
    - ``blendshapes (T, B)`` float32 scores in [0, 1] named by ``blendshape_names``, or ``None``
      (MediaPipe gives its 52; a detector without them leaves them out).
    - ``transforms (T, 4, 4)`` float32 head transform (MediaPipe: canonical face centimetres ->
      camera centimetres, OpenGL convention), or ``None``.
    - ``width``, ``height``: image size in pixels; ``fps``: frame rate; ``clip_id``: name.
    - ``confidence (T, N)`` float32 in [0, 1]: how much the detector trusts each point (the
      fit weights the point by it); ``None`` means 1 everywhere (MediaPipe gives none).
    - ``flow (T, N, 2)`` float32 px: the optical flow of each point from frame t-1 to t, sampled
      at its position in frame t-1 (:mod:`pipeline.fitting.flow`), NaN where there is none (row 0,
      frames without a detection, inconsistent flow); ``None`` when not computed (the default: only
      the flow term of the fit, ``FitConfig.flow``, needs it).
    - ``blendshape_names``; ``detector``: its name; ``detector_note``: one line the QA report
      repeats (e.g. that the detector's accuracy is not measured), "" for none.

    Without blendshapes the fit starts from a neutral expression and a closed jaw; without
    transforms the head rotation comes from a similarity fit of the model's landmarks
    (:func:`pipeline.fitting.init.initial_rotation_from_points`).
    """

    landmarks: np.ndarray
    valid: np.ndarray
    blendshapes: np.ndarray | None
    transforms: np.ndarray | None
    width: int
    height: int
    fps: float = 30.0
    clip_id: str = ""
    scheme: str = DEFAULT_SCHEME
    confidence: np.ndarray | None = None
    blendshape_names: tuple[str, ...] = ()
    detector: str = ""
    detector_note: str = ""
    flow: np.ndarray | None = None

    def __post_init__(self) -> None:
        name = self.clip_id or "track"
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool).reshape(-1)
        t = len(self.valid)
        n_points = scheme(self.scheme).n_points
        if self.landmarks.ndim != 3 or self.landmarks.shape[0] != t or self.landmarks.shape[2] not in (2, 3):
            raise ValueError(f"{name}: landmarks must be (T, N, 2|3) with T={t}, got {self.landmarks.shape}")
        if self.landmarks.shape[1] != n_points and self.scheme != DEFAULT_SCHEME:
            raise ValueError(f"{name}: {self.scheme} landmarks have {n_points} points, got {self.landmarks.shape[1]}")
        if self.blendshapes is not None:
            self.blendshapes = np.asarray(self.blendshapes, dtype=np.float32)
            if self.blendshapes.ndim != 2 or self.blendshapes.shape[0] != t:
                raise ValueError(f"{name}: blendshapes {self.blendshapes.shape} do not match T={t}")
            if self.blendshape_names and len(self.blendshape_names) != self.blendshapes.shape[1]:
                raise ValueError(f"{name}: {len(self.blendshape_names)} blendshape names for "
                                 f"{self.blendshapes.shape[1]} blendshapes")
        self.blendshape_names = tuple(str(n) for n in self.blendshape_names)
        if self.transforms is not None:
            self.transforms = np.asarray(self.transforms, dtype=np.float32)
            if self.transforms.shape != (t, 4, 4):
                raise ValueError(f"{name}: transforms {self.transforms.shape} do not match T={t}")
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float32)
            if self.confidence.shape != self.landmarks.shape[:2]:
                raise ValueError(f"{name}: confidence {self.confidence.shape} does not match landmarks "
                                 f"{self.landmarks.shape[:2]}")
            if not np.isfinite(self.confidence).all() or self.confidence.min(initial=0) < 0 or self.confidence.max(initial=0) > 1:
                raise ValueError(f"{name}: confidence must be finite and in [0, 1]")
        if self.flow is not None:
            self.flow = np.asarray(self.flow, dtype=np.float32)
            if self.flow.shape != self.landmarks.shape[:2] + (2,):
                raise ValueError(f"{name}: flow {self.flow.shape} does not match landmarks "
                                 f"{self.landmarks.shape[:2]} x 2")
            if np.isinf(self.flow).any():
                raise ValueError(f"{name}: flow must be finite or NaN (none)")

    @property
    def n_frames(self) -> int:
        return len(self.valid)

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``.npz`` fields (optional ones only when present)."""
        out = {"landmarks": self.landmarks, "valid": self.valid, "width": np.int64(self.width),
               "height": np.int64(self.height), "fps": np.float64(self.fps), "clip_id": np.str_(self.clip_id),
               "scheme": np.str_(self.scheme)}
        if self.blendshapes is not None:
            out["blendshapes"] = self.blendshapes
            if self.blendshape_names:
                out["blendshape_names"] = np.array(self.blendshape_names, dtype=np.str_)
        if self.transforms is not None:
            out["transforms"] = self.transforms
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if self.detector:
            out["detector"] = np.str_(self.detector)
        if self.detector_note:
            out["detector_note"] = np.str_(self.detector_note)
        if self.flow is not None:
            out["flow"] = self.flow
        return out

    @classmethod
    def from_arrays(cls, z, clip_id: str | None = None) -> "LandmarkTrack":
        """From the fields of :meth:`arrays` (an ``np.load`` result or a dict)."""
        keys = set(z.keys()) if hasattr(z, "keys") else set(z.files)
        opt = lambda k: z[k] if k in keys else None  # noqa: E731
        names = tuple(str(n) for n in z["blendshape_names"]) if "blendshape_names" in keys else ()
        cid = clip_id if clip_id is not None else (str(z["clip_id"]) if "clip_id" in keys else "")
        return cls(z["landmarks"], z["valid"], opt("blendshapes"), opt("transforms"), int(z["width"]),
                   int(z["height"]), float(z["fps"]), cid, str(z["scheme"]) if "scheme" in keys else DEFAULT_SCHEME,
                   opt("confidence"), names, str(z["detector"]) if "detector" in keys else "",
                   str(z["detector_note"]) if "detector_note" in keys else "", opt("flow"))

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically."""
        from emoface.utils.atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **self.arrays())

    @classmethod
    def load(cls, path: str | Path) -> "LandmarkTrack":
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays(z)


def inter_ocular_px(landmarks: np.ndarray, scheme_name: str = DEFAULT_SCHEME) -> np.ndarray:
    """Outer-eye-corner distance in pixels of landmarks ``(..., N, 2|3)`` -> ``(...)`` in scheme
    ``scheme_name`` (MediaPipe points 33/263, iBUG points 36/45)."""
    a, b = scheme(scheme_name).outer_eye_corners
    return np.linalg.norm(landmarks[..., a, :2] - landmarks[..., b, :2], axis=-1)


@dataclass
class IdentityFit:
    """One actor's shape and camera.

    ``shape (S,)`` coefficients (the model's first S), ``camera`` (focal possibly estimated),
    ``n_frames`` frames used, ``error_iod`` median landmark reprojection error over those
    frames (fraction of the inter-ocular distance), ``focal_estimated``, ``embedding`` name,
    ``model_name``, ``converged``; ``expression_reference (E,)`` the expression the actor's
    template holds (``identity.expression_reference``; empty = zero expression).
    """

    shape: np.ndarray
    camera: PinholeCamera
    n_frames: int
    error_iod: float
    focal_estimated: bool
    embedding: str
    model_name: str
    converged: bool = True
    expression_reference: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def save(self, path: str | Path) -> None:
        from emoface.utils.atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, shape=np.asarray(self.shape, np.float32), camera=self.camera.as_array(),
                     n_frames=self.n_frames, error_iod=self.error_iod, focal_estimated=self.focal_estimated,
                     embedding=self.embedding, model_name=self.model_name, converged=self.converged,
                     expression_reference=np.asarray(self.expression_reference, np.float32))

    @classmethod
    def load(cls, path: str | Path) -> "IdentityFit":
        with np.load(path, allow_pickle=False) as z:
            ref = z["expression_reference"].astype(np.float32) if "expression_reference" in z.files else np.zeros(0, np.float32)
            return cls(z["shape"].astype(np.float32), PinholeCamera.from_array(z["camera"]), int(z["n_frames"]),
                       float(z["error_iod"]), bool(z["focal_estimated"]), str(z["embedding"]),
                       str(z["model_name"]), bool(z["converged"]), ref)


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
