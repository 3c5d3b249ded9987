"""Self-generated ground truth for the fitter: known parameters -> projected landmarks.

Landmarks are the model's own embedded points rendered through a known camera, with
detector-like noise (Gaussian, a few outliers) and a detector-like head transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from emoface.mesh.camera import PinholeCamera
from pipeline.fitting.landmark_model import LandmarkModel
from pipeline.fitting.types import IdentityFit, LandmarkTrack

#: the camera the fit tests render their clips with
CAM = PinholeCamera.from_fov(1280, 720, 28.0)


def known_identity(shape: np.ndarray, camera: PinholeCamera = CAM, embedding: str = "mediapipe") -> IdentityFit:
    """The actor's identity at its true shape and camera (what a clip fit is given)."""
    return IdentityFit(np.asarray(shape, np.float32), camera, 1, 0.0, False, embedding, "demo-head")


@dataclass
class TruthClip:
    track: LandmarkTrack
    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    camera: PinholeCamera


def make_clip(model, shape: np.ndarray, camera: PinholeCamera, n_frames: int = 60, seed: int = 0,
              noise_px: float = 1.0, outlier_frac: float = 0.0, missing: slice | None = None,
              n_expression: int | None = None, depth: float = 0.7, clip_id: str = "synthetic",
              held: np.ndarray | None = None) -> TruthClip:
    rng = np.random.default_rng(seed)
    E = model.exprdirs.shape[-1] if n_expression is None else n_expression
    lm = LandmarkModel(model, "mediapipe", len(shape), E, dtype=torch.float64)
    t = np.arange(n_frames) / 30.0
    freq = rng.uniform(0.3, 1.5, size=E)
    phase = rng.uniform(0, 2 * np.pi, size=E)
    # activations (the demo head's components are one-sided: 0 at rest); a FLAME-style PCA
    # basis (``expr_*`` names) is signed
    signed = all(n.startswith("expr") for n in model.expression_names[:E])
    expr = 0.5 * np.clip(np.sin(2 * np.pi * freq * t[:, None] + phase), -0.2 if signed else 0.0, 1.0)
    if held is not None:  # an expression the face holds through the clip (on top of the motion)
        expr = expr + np.asarray(held, np.float64)[None, :E]
    jaw = np.zeros((n_frames, 3))
    jaw[:, 0] = 0.12 * (1 + np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t + rng.uniform(0, 6)))
    rot = np.stack([0.08 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6)),
                    0.25 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6)),
                    0.05 * np.cos(2 * np.pi * 0.25 * t)], 1)
    tr = np.stack([0.02 * np.sin(t + seed), -0.01 + 0.005 * np.cos(t), -depth + 0.03 * np.sin(0.7 * t)], 1)
    d = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    ev = lm.evaluate(d(shape), d(expr), d(jaw), d(rot), d(tr), camera.fx, camera.fy, camera.cx, camera.cy)
    uv = ev.uv.numpy()
    lmk = np.zeros((n_frames, 478, 3), np.float32)
    noisy = uv + rng.normal(size=uv.shape) * noise_px
    if outlier_frac > 0:
        bad = rng.random(uv.shape[:2]) < outlier_frac
        noisy[bad] += rng.normal(size=(int(bad.sum()), 2)) * 25.0
    lmk[:, lm.mp_index, :2] = noisy
    valid = np.ones(n_frames, bool)
    if missing is not None:
        valid[missing] = False
        lmk[~valid] = 0.0
    tf = np.tile(np.eye(4, dtype=np.float32), (n_frames, 1, 1))
    tf[:, :3, :3] = Rotation.from_rotvec(rot + rng.normal(size=rot.shape) * 0.03).as_matrix()
    tf[:, :3, 3] = tr * 100.0 * 1.3  # detector's own camera: depth off by its FOV assumption
    track = LandmarkTrack(lmk, valid, np.zeros((n_frames, 52), np.float32), tf, camera.width, camera.height, 30.0, clip_id)
    return TruthClip(track, np.asarray(shape, np.float64), expr, jaw, rot, tr, camera)


@dataclass
class FittedClip:
    """A :func:`make_clip` clip fitted as a build fits it: raw and smoothed fit, front-facing meshes."""

    truth: TruthClip
    identity: object  # pipeline.fitting.IdentityFit at the true shape and camera
    raw: object  # pipeline.fitting.ClipFit before smoothing
    fit: object  # ... after smoothing
    vertices: np.ndarray  # (T, V, 3) front-facing metres
    template: np.ndarray  # (V, 3)


def fit_synthetic_clip(model, *, shape_seed: int, n_frames: int, seed: int, noise_px: float,
                       missing: slice | None = None, clip_id: str = "synthetic") -> FittedClip:
    """A clip of a shape drawn with ``shape_seed`` seen by a 1280x720 camera, fitted, smoothed and canonicalised."""
    from pipeline.fitting import IdentityFit, canonicalize, fit_clip, smooth_clip

    cam = PinholeCamera.from_fov(1280, 720, 26.0)
    shape = np.random.default_rng(shape_seed).normal(size=model.n_shape) * 0.5
    c = make_clip(model, shape, cam, n_frames=n_frames, seed=seed, noise_px=noise_px, missing=missing, clip_id=clip_id)
    ident = IdentityFit(shape.astype(np.float32), cam, 1, 0.0, False, "mediapipe", model.name)
    raw = fit_clip(c.track, ident, model)
    fit = smooth_clip(raw)
    verts, template = canonicalize(fit, ident, model)
    return FittedClip(c, ident, raw, fit, verts, template)


def write_ground_truth(path, model, clip: TruthClip, **extra) -> np.ndarray:
    """Write ``clip``'s truth as a generated corpus's ``ground_truth/<clip_id>.npz``; returns its vertices (T, V, 3)."""
    from emoface.morphable import MorphableLayer
    from emoface.morphable.mediapipe_indices import LOWER_LIP_MID, UPPER_LIP_MID

    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    n = len(clip.expression)
    gt_v = MorphableLayer(model)(shape=f(clip.shape)[None].expand(n, -1), expression=f(clip.expression),
                                 jaw=f(clip.jaw)).vertices.numpy()
    np.savez(path, fps=30.0, model="demo-head", shape=clip.shape, expression=clip.expression, jaw=clip.jaw,
             head_rotation=clip.rotation, head_translation=clip.translation, vertices=gt_v,
             camera=clip.camera.as_array(),
             mouth_opening=np.linalg.norm(gt_v[:, UPPER_LIP_MID] - gt_v[:, LOWER_LIP_MID], axis=1), **extra)
    return gt_v
