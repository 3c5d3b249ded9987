"""Temporal smoothing of fitted parameters: Kalman filter + Rauch-Tung-Striebel smoother.

EmoFace (paper §4.1, App. A.6, step 3) applies "a Kalman filter to the FLAME parameters" against
jitter. Here every scalar parameter follows its own constant-velocity model (state: value
and velocity per frame), with process and measurement noise set per parameter group
(expression, jaw, head rotation, head translation; :class:`SmoothConfig`). The forward
Kalman pass is followed by the RTS backward pass, so the result uses past and future
frames and has no lag. Frames whose values were interpolated (no detection) are predicted
only. Axis-angle rotations are smoothed per component, which is accurate for head and jaw
rotations well below pi.
"""

from __future__ import annotations

import numpy as np

from .config import GroupNoise, SmoothConfig
from .types import ClipFit

__all__ = ["smooth_clip", "rts_smooth"]


def rts_smooth(z: np.ndarray, process_std: np.ndarray, measurement_std: np.ndarray,
               observed: np.ndarray | None = None) -> np.ndarray:
    """Smooth ``z (T, P)`` with independent constant-velocity Kalman models; returns ``(T, P)``.

    ``process_std (P,)``: std of the per-frame change of velocity (white acceleration,
    discrete model ``Q = q^2 [[1/4, 1/2], [1/2, 1]]``); ``measurement_std (P,)``;
    ``observed (T,)`` bool: frames whose measurement is used (others are predicted only).
    """
    z = np.asarray(z, np.float64)
    T, P = z.shape
    if T < 2:
        return z.copy()
    q2 = np.asarray(process_std, np.float64) ** 2 * np.ones(P)
    r2 = np.asarray(measurement_std, np.float64) ** 2 * np.ones(P)
    obs = np.ones(T, bool) if observed is None else np.asarray(observed, bool)
    if not obs.any():
        return z.copy()
    # state mean (P, 2) and covariance entries a=var(x), b=cov(x,v), c=var(v), per parameter
    xf = np.zeros((T, P, 2))
    Pf = np.zeros((T, P, 3))
    xp = np.zeros((T, P, 2))
    Pp = np.zeros((T, P, 3))
    first = int(np.argmax(obs))
    x = np.stack([z[first], np.zeros(P)], -1)
    a, b, c = r2.copy(), np.zeros(P), r2 + 25.0 * q2
    for t in range(T):
        if t > 0:  # predict: x <- F x, P <- F P F^T + Q with F = [[1, 1], [0, 1]]
            x = np.stack([x[:, 0] + x[:, 1], x[:, 1]], -1)
            a, b, c = a + 2 * b + c + 0.25 * q2, b + c + 0.5 * q2, c + q2
        xp[t], Pp[t] = x, np.stack([a, b, c], -1)
        if obs[t]:  # update with H = [1, 0]
            s = a + r2
            ka, kb = a / s, b / s
            innov = z[t] - x[:, 0]
            x = np.stack([x[:, 0] + ka * innov, x[:, 1] + kb * innov], -1)
            a, b, c = (1 - ka) * a, (1 - ka) * b, c - kb * b
        xf[t], Pf[t] = x, np.stack([a, b, c], -1)
    xs = xf[-1].copy()
    Ps = Pf[-1].copy()
    out = np.zeros((T, P))
    out[-1] = xs[:, 0]
    for t in range(T - 2, -1, -1):
        fa, fb, fc = Pf[t, :, 0], Pf[t, :, 1], Pf[t, :, 2]
        pa, pb, pc = Pp[t + 1, :, 0], Pp[t + 1, :, 1], Pp[t + 1, :, 2]
        det = pa * pc - pb * pb
        det = np.where(np.abs(det) < 1e-300, 1e-300, det)
        ia, ib, ic = pc / det, -pb / det, pa / det  # inverse of the predicted covariance
        # C = Pf F^T Pp^-1 ; Pf F^T = [[fa + fb, fb], [fb + fc, fc]]
        m00, m01, m10, m11 = fa + fb, fb, fb + fc, fc
        c00, c01 = m00 * ia + m01 * ib, m00 * ib + m01 * ic
        c10, c11 = m10 * ia + m11 * ib, m10 * ib + m11 * ic
        d0 = xs[:, 0] - xp[t + 1, :, 0]
        d1 = xs[:, 1] - xp[t + 1, :, 1]
        new0 = xf[t, :, 0] + c00 * d0 + c01 * d1
        new1 = xf[t, :, 1] + c10 * d0 + c11 * d1
        # P_s = Pf + C (Ps - Pp) C^T
        ea, eb, ec = Ps[:, 0] - pa, Ps[:, 1] - pb, Ps[:, 2] - pc
        t00, t01 = c00 * ea + c01 * eb, c00 * eb + c01 * ec
        t10, t11 = c10 * ea + c11 * eb, c10 * eb + c11 * ec
        Ps = np.stack([fa + t00 * c00 + t01 * c01, fb + t00 * c10 + t01 * c11, fc + t10 * c10 + t11 * c11], -1)
        xs = np.stack([new0, new1], -1)
        out[t] = new0
    return out


def _group(values: np.ndarray, noise: GroupNoise, observed: np.ndarray) -> np.ndarray:
    p = values.shape[1]
    return rts_smooth(values, np.full(p, noise.process_std), np.full(p, noise.measurement_std), observed).astype(np.float32)


def smooth_clip(fit: ClipFit, cfg: SmoothConfig | None = None) -> ClipFit:
    """The clip's parameters after Kalman/RTS smoothing (a new :class:`ClipFit`, ``smoothed=True``).

    Shape, camera, per-frame errors and flags are kept; with ``cfg.enabled`` False the
    parameters are returned unchanged (still marked as passed through this step).
    """
    cfg = cfg or SmoothConfig()
    if not cfg.enabled:
        return fit.replace(smoothed=True)
    observed = ~fit.interpolated if cfg.skip_interpolated else np.ones(fit.n_frames, bool)
    out = fit.replace(
        expression=_group(fit.expression, cfg.expression, observed),
        jaw=_group(fit.jaw, cfg.jaw, observed),
        head_rotation=_group(fit.head_rotation, cfg.rotation, observed),
        head_translation=_group(fit.head_translation, cfg.translation, observed),
        smoothed=True,
    )
    for name in ("expression", "jaw", "head_rotation", "head_translation"):
        if not np.isfinite(getattr(out, name)).all():
            raise ValueError(f"smoothing produced non-finite {name}")
    return out
