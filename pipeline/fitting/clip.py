"""Per-clip fit: expression, jaw and head pose of every frame, all frames at once.

Levenberg-Marquardt on the clip energy (robust landmark reprojection + expression/jaw
priors + first-order temporal smoothness, :class:`~pipeline.fitting.config.FitConfig`).
The temporal term couples neighbouring frames only, so the normal matrix is
block-tridiagonal and one step costs ``O(T K^3)`` (block Thomas algorithm). Frames without a
detection have no data term: the smoothness term interpolates their parameters between the
neighbouring frames (held at the ends); they are flagged in ``ClipFit.interpolated``.
"""

from __future__ import annotations

import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera

from .config import FitConfig
from .landmark_model import LandmarkModel, choose_embedding
from .problem import batch_energy, frame_bounds, frame_priors, initial_params, make_targets, unpack
from .solver import solve_block_tridiagonal
from .types import ClipFit, FitError, IdentityFit, LandmarkTrack

__all__ = ["fit_clip", "landmark_model_for"]

_CACHE: dict[tuple, LandmarkModel] = {}


def landmark_model_for(model, cfg: FitConfig, embedding: str | None = None, dtype: torch.dtype = torch.float64,
                       device: str | torch.device = "cpu") -> LandmarkModel:
    """The (cached) :class:`LandmarkModel` of ``model`` for these settings."""
    name = embedding or choose_embedding(model, cfg.embedding)
    key = (id(model), model.name, name, cfg.n_shape, cfg.n_expression, cfg.max_landmarks, dtype, str(device))
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = LandmarkModel(model, name, cfg.n_shape, cfg.n_expression, dtype=dtype, device=device,
                                    max_landmarks=cfg.max_landmarks)
    return _CACHE[key]


def _dtype(cfg: FitConfig) -> torch.dtype:
    return torch.float64 if cfg.dtype == "float64" else torch.float32


def _smooth_energy(x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    d = x[1:] - x[:-1]
    return 0.5 * (step * d * d).sum()


def fit_clip(track: LandmarkTrack, identity: IdentityFit, model, camera: PinholeCamera | None = None,
             cfg: FitConfig | None = None, device: str | torch.device = "cpu") -> ClipFit:
    """Fit one clip with the actor's identity.

    Args:
        track: the clip's detector output (:class:`LandmarkTrack`).
        identity: the actor's :class:`IdentityFit` (shape and, by default, its camera).
        model: the morphable model the identity was fitted with.
        camera: the video's fixed camera; ``None`` uses ``identity.camera``.
        cfg: fitter settings. device: torch device for the solve.

    Returns a :class:`ClipFit` with per-frame ``expression (T, E)``, ``jaw (T, 3)``,
    ``head_rotation (T, 3)``, ``head_translation (T, 3)`` and per-frame reprojection errors.

    Raises :class:`FitError` (one line naming the clip) when no frame has a detection, the
    camera does not match the video, or the solve diverges (non-finite values, or a median
    reprojection error above ``cfg.diverged_iod`` inter-ocular distances).
    """
    cfg = cfg or FitConfig()
    camera = camera or identity.camera
    name = track.clip_id or "clip"
    if (camera.width, camera.height) != (track.width, track.height):
        raise FitError(f"{name}: camera is {camera.width}x{camera.height} but the video is {track.width}x{track.height}")
    if not track.valid.any():
        raise FitError(f"{name}: no face detected in any frame")
    dt = _dtype(cfg)
    lm = landmark_model_for(model, cfg, identity.embedding, dt, device)
    E = lm.n_expression
    shape = torch.zeros(lm.n_shape, dtype=dt, device=device)
    n = min(len(identity.shape), lm.n_shape)
    shape[:n] = torch.as_tensor(np.asarray(identity.shape[:n]), dtype=dt, device=device)
    targets = make_targets(track, lm, cfg, dtype=dt, device=device)
    prior, step = frame_priors(lm, cfg, torch.float64, device)
    bound = frame_bounds(lm, cfg, model.expression_names, torch.float64, device)
    x = initial_params(track, lm, shape, targets, camera, cfg, model.expression_names)

    def energy(xx: torch.Tensor, blocks: bool, kind: str):
        e, ev, H, g, _ = batch_energy(lm, shape, xx, targets, prior, camera, cfg, blocks=blocks, robust_kind=kind,
                                      bound=bound)
        return e + _smooth_energy(xx, step), ev, H, g

    def levenberg_marquardt(x: torch.Tensor, kind: str, max_iterations: int):
        """LM on the clip energy with robust loss ``kind``; returns (x, ev, converged, steps)."""
        cur, ev, H, g = energy(x, True, kind)
        mu = cfg.damping
        steps = 0
        for _ in range(max_iterations):
            if not torch.isfinite(cur):
                raise FitError(f"{name}: fit diverged (non-finite energy at step {steps + 1})")
            # add the temporal term to the gradient and the diagonal blocks
            gs = g.clone()
            d = x[1:] - x[:-1]
            gs[1:] += step * d
            gs[:-1] -= step * d
            nb = torch.full((len(x), 1), 2.0, dtype=x.dtype, device=device)
            nb[0] = nb[-1] = 1.0
            if len(x) == 1:
                nb[0] = 0.0
            D = H + torch.diag_embed(nb * step)
            diag = torch.diagonal(D, dim1=1, dim2=2).clamp_min(1e-9)
            accepted = False
            for _ in range(8):
                Dd = D + torch.diag_embed(mu * diag)
                try:
                    delta = solve_block_tridiagonal(Dd, step, -gs)
                except RuntimeError:  # not positive definite: more damping
                    mu *= 10.0
                    continue
                xn = x + delta
                new, evn, Hn, gn = energy(xn, True, kind)  # blocks too: a rejected step is rare
                if torch.isfinite(new) and new < cur:
                    accepted = True
                    break
                mu *= 10.0
            if not accepted:
                return x, ev, True, steps  # no descent direction left at this damping: a minimum
            steps += 1
            rel = float((cur - new) / cur.clamp_min(1e-12))
            x, cur, ev, H, g = xn, new, evn, Hn, gn
            mu = max(mu * 0.3, 1e-9)
            if rel < cfg.tolerance:
                return x, ev, True, steps
        return x, ev, False, steps

    it = 0
    if cfg.robust == "geman_mcclure" and cfg.robust_warmup > 0:  # convex start, then the redescending loss
        x, ev, _, it = levenberg_marquardt(x, "huber", cfg.robust_warmup)
    x, ev, converged, more = levenberg_marquardt(x, cfg.robust, max(1, cfg.max_iterations - it))
    it += more
    if not torch.isfinite(x).all():
        raise FitError(f"{name}: fit diverged (non-finite parameters)")
    # final errors (ev belongs to x: the last accepted point or the start)
    err_px = torch.linalg.norm(ev.uv - targets.uv, dim=-1).mean(1).cpu().numpy()
    valid = track.valid.copy()
    err_px = np.where(valid, err_px, -1.0)
    err_iod = np.where(valid, err_px / targets.iod, -1.0)
    med = float(np.median(err_iod[valid]))
    if not np.isfinite(med) or med > cfg.diverged_iod:
        raise FitError(f"{name}: fit diverged (median reprojection error {med:.2f} inter-ocular distances)")
    expr, jaw, rot, trans = (a.cpu().numpy().astype(np.float32) for a in unpack(x, E))
    return ClipFit(shape=np.asarray(identity.shape, np.float32), expression=expr, jaw=jaw, head_rotation=rot,
                   head_translation=trans, camera=camera, fit_error=err_px.astype(np.float32),
                   fit_error_iod=err_iod.astype(np.float32), valid=valid, interpolated=~valid,
                   converged=converged, iterations=it, embedding=lm.embedding)
