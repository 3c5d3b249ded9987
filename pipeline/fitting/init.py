"""Camera choice and initial values from the detector.

The head rotation comes from the detector's head transform when it gives one (MediaPipe),
else from a perspective-n-point fit of the model's embedded landmarks to the detected ones
(OpenCV's SQPnP); the expression and the jaw from named blendshape scores when the detector
gives them (MediaPipe's 52), else they start at zero (neutral face, closed jaw).
"""

from __future__ import annotations

import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera, matrix_to_axis_angle

from .config import CameraConfig
from .landmark_model import LandmarkModel

__all__ = ["default_camera", "initial_rotation", "initial_rotation_from_points", "initial_translation",
           "initial_expression", "initial_jaw_open", "jaw_open_sign", "interpolate_missing"]


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


def initial_expression(blendshapes: np.ndarray | None, blendshape_names: tuple[str, ...] | list[str],
                       expression_names: list[str], n_expression: int, n_frames: int) -> np.ndarray:
    """Expression ``(T, E)`` initial values: components named like a detector blendshape take its
    score (the demo head's components are not named like MediaPipe's, so this is mostly zeros);
    zeros without blendshapes."""
    out = np.zeros((n_frames, n_expression), np.float64)
    if blendshapes is None:
        return out
    index = {n: i for i, n in enumerate(blendshape_names)}
    for e, name in enumerate(expression_names[:n_expression]):
        if name in index and blendshapes.shape[1] > index[name]:
            out[:, e] = blendshapes[:, index[name]]
    return out


def initial_jaw_open(blendshapes: np.ndarray | None, blendshape_names: tuple[str, ...] | list[str],
                     n_frames: int) -> np.ndarray | float:
    """The ``jawOpen`` score ``(T,)`` in [0, 1] when the detector gives one, else 0 (closed)."""
    names = list(blendshape_names)
    if blendshapes is None or "jawOpen" not in names:
        return 0.0
    return np.clip(blendshapes[:, names.index("jawOpen")], 0.0, 1.0)


def initial_rotation_from_points(points: np.ndarray, uv: np.ndarray, weight: np.ndarray,
                                 camera: PinholeCamera) -> np.ndarray:
    """Head rotation ``(T, 3)`` axis-angle from a PnP fit per frame (no detector transform).

    ``points (T, L, 3)`` model-space landmarks (metres), ``uv (T, L, 2)`` detected pixels,
    ``weight (T, L)``: points of weight 0 are left out. OpenCV's SQPnP (globally optimal for
    the algebraic error) on the OpenCV camera (y down, looking along +z), turned into this
    project's convention (y up, looking along -z). A frame with fewer than 4 usable points, or
    whose solution puts the face behind the camera, gets the frontal pose (rotation 0).
    """
    import cv2

    flip = np.diag([1.0, -1.0, -1.0])
    K = np.array([[camera.fx, 0.0, camera.cx], [0.0, camera.fy, camera.cy], [0.0, 0.0, 1.0]])
    out = np.zeros((len(points), 3), np.float64)
    for t in range(len(points)):
        use = weight[t] > 0
        if use.sum() < 4:
            continue
        obj = np.ascontiguousarray(points[t][use], np.float64)
        img = np.ascontiguousarray(uv[t][use], np.float64)
        try:
            ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
        except cv2.error:
            continue
        if not ok or not np.isfinite(rvec).all() or float(tvec[2, 0]) <= 0:
            continue
        r = flip @ cv2.Rodrigues(rvec)[0]  # X_gl = F X_cv = (F R_cv) q + F t_cv
        out[t] = matrix_to_axis_angle(r[None])[0]
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
