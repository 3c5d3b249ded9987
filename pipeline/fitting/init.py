"""Camera choice and initial values from the detector (head transform, blendshapes)."""

from __future__ import annotations

import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera, matrix_to_axis_angle

from .config import CameraConfig
from .landmark_model import LandmarkModel

__all__ = ["default_camera", "initial_rotation", "initial_translation", "initial_expression", "jaw_open_sign",
           "interpolate_missing"]


def default_camera(width: int, height: int, cfg: CameraConfig | None = None) -> PinholeCamera:
    """The prior camera of a ``width x height`` video: centred, square pixels, ``cfg.fov_y_deg``."""
    cfg = cfg or CameraConfig()
    return PinholeCamera.from_fov(int(width), int(height), float(cfg.fov_y_deg))


def initial_rotation(transforms: np.ndarray) -> np.ndarray:
    """Head rotation ``(T, 3)`` axis-angle from MediaPipe transforms ``(T, 4, 4)`` (re-orthonormalised)."""
    r = np.asarray(transforms, np.float64)[:, :3, :3]
    u, _, vt = np.linalg.svd(r)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= d[:, None]
    return matrix_to_axis_angle(u @ vt)


def initial_translation(points: torch.Tensor, rotation: torch.Tensor, uv: torch.Tensor, weight: torch.Tensor,
                        camera: PinholeCamera, fx: float | None = None) -> torch.Tensor:
    """Linear least-squares translation ``(N, 3)`` that best projects model landmarks onto ``uv``.

    ``points (N, L, 3)`` model metres, ``rotation (N, 3)``, ``uv (N, L, 2)`` px, ``weight (N, L)``.
    From ``(u - cx) (-z) = fx x`` and ``(v - cy) (-z) = -fy y`` with ``p = R q + t``: linear in ``t``.
    """
    from emoface.mesh.camera import axis_angle_to_matrix

    fx = camera.fx if fx is None else fx
    fy = fx * camera.fy / camera.fx
    rq = points @ axis_angle_to_matrix(rotation).transpose(1, 2)
    du = uv[..., 0] - camera.cx
    dv = uv[..., 1] - camera.cy
    zero = torch.zeros_like(du)
    # rows: [fx, 0, du] t = -fx*rq_x - du*rq_z ; [0, fy, -dv] t = -fy*rq_y + dv*rq_z
    a1 = torch.stack([torch.full_like(du, fx), zero, du], -1)
    a2 = torch.stack([zero, torch.full_like(dv, fy), -dv], -1)
    b1 = -fx * rq[..., 0] - du * rq[..., 2]
    b2 = -fy * rq[..., 1] + dv * rq[..., 2]
    A = torch.cat([a1, a2], 1)  # (N, 2L, 3)
    b = torch.cat([b1, b2], 1)
    w = torch.cat([weight, weight], 1)[..., None]
    ata = (A * w).transpose(1, 2) @ A + 1e-9 * torch.eye(3, dtype=A.dtype, device=A.device)
    atb = (A * w).transpose(1, 2) @ b[..., None]
    return torch.linalg.solve(ata, atb)[..., 0]


def jaw_open_sign(lm: LandmarkModel) -> float:
    """+1 if a positive rotation about x opens the model's jaw (the jaw-most landmark moves down)."""
    cached = getattr(lm, "_jaw_open_sign", None)
    if cached is not None:
        return cached
    kw = dict(dtype=lm.A_T.dtype, device=lm.A_T.device)
    z = torch.zeros(1, lm.n_expression, **kw)
    base = torch.zeros(1, 3, **kw)
    shape = torch.zeros(lm.n_shape, **kw)
    ident = dict(rotation=base, translation=torch.tensor([[0.0, 0.0, -1.0]], **kw), fx=1000.0, fy=1000.0, cx=0.0, cy=0.0)
    p0 = lm.evaluate(shape, z, base, **ident).points[0]
    p1 = lm.evaluate(shape, z, torch.tensor([[0.2, 0.0, 0.0]], **kw), **ident).points[0]
    k = int(torch.argmax(lm.omega))
    lm._jaw_open_sign = 1.0 if float(p1[k, 1] - p0[k, 1]) < 0 else -1.0
    return lm._jaw_open_sign


def initial_expression(blendshapes: np.ndarray, expression_names: list[str], n_expression: int) -> np.ndarray:
    """Expression ``(T, E)`` initial values: components named like a MediaPipe blendshape take its score."""
    from pipeline.landmarker import BLENDSHAPE_NAMES

    T = len(blendshapes)
    out = np.zeros((T, n_expression), np.float64)
    index = {n: i for i, n in enumerate(BLENDSHAPE_NAMES)}
    for e, name in enumerate(expression_names[:n_expression]):
        if name in index and blendshapes.shape[1] > index[name]:
            out[:, e] = blendshapes[:, index[name]]
    return out


def interpolate_missing(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill rows of ``values (T, K)`` where ``valid`` is False by linear interpolation over time
    (held constant before the first and after the last valid frame)."""
    values = np.array(values, dtype=np.float64, copy=True)
    valid = np.asarray(valid, bool)
    if valid.all() or not valid.any():
        return values
    t = np.arange(len(valid))
    for k in range(values.shape[1]):
        values[~valid, k] = np.interp(t[~valid], t[valid], values[valid, k])
    return values
