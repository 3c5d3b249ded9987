"""Per-clip fit: expression, jaw and head pose of every frame, all frames at once.

Levenberg-Marquardt on the clip energy (robust landmark reprojection + expression/jaw
priors + first-order temporal smoothness, :class:`~pipeline.fitting.config.FitConfig`).
The temporal term couples neighbouring frames only, so the normal matrix is
block-tridiagonal and one step costs ``O(T K^3)`` (block Thomas algorithm). Frames without a
detection have no data term: the smoothness term interpolates their parameters between the
neighbouring frames (held at the ends); they are flagged in ``ClipFit.interpolated``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera

from .config import FitConfig
from .flow import FlowTargets, flow_term, make_flow_targets
from .landmark_model import LandmarkModel, choose_embedding
from .problem import Targets, batch_energy, frame_bounds, frame_priors, initial_params, make_targets, unpack
from .solver import BlockTridiagonalSystem, Linearization, Loss, NonFiniteEnergy, Schedule, levenberg_marquardt
from .types import ClipFit, FitError, IdentityFit, LandmarkTrack

__all__ = ["fit_clip", "landmark_model_for"]

_CACHE: dict[tuple, LandmarkModel] = {}


def landmark_model_for(model, cfg: FitConfig, embedding: str | None = None, dtype: torch.dtype = torch.float64,
                       device: str | torch.device = "cpu") -> LandmarkModel:
    """The (cached) :class:`LandmarkModel` of ``model`` for these settings."""
    mc = cfg.model
    name = embedding or choose_embedding(model, mc.embedding)
    key = (id(model), model.name, name, mc.n_shape, mc.n_expression, mc.max_landmarks, dtype, str(device))
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = LandmarkModel(model, name, mc.n_shape, mc.n_expression, dtype=dtype, device=device,
                                    max_landmarks=mc.max_landmarks)
    return _CACHE[key]


def _dtype(cfg: FitConfig) -> torch.dtype:
    return torch.float64 if cfg.model.dtype == "float64" else torch.float32


class _ClipProblem:
    """The clip energy for :func:`~pipeline.fitting.solver.levenberg_marquardt`: per-frame data
    and priors (:func:`batch_energy`) plus the temporal term, whose precisions ``step (K,)``
    couple neighbouring frames into a block-tridiagonal normal matrix, and (``flow`` not None) the
    optical-flow term (:func:`~pipeline.fitting.flow.flow_term`), which adds full blocks between
    neighbouring frames. Points: ``x (T, K)``."""

    def __init__(self, lm: LandmarkModel, shape: torch.Tensor, targets: Targets, prior: torch.Tensor,
                 step: torch.Tensor, bound: torch.Tensor, camera: PinholeCamera, cfg: FitConfig,
                 flow: FlowTargets | None = None, flow_lm: LandmarkModel | None = None):
        self.lm, self.shape, self.targets, self.prior, self.step = lm, shape, targets, prior, step
        self.bound, self.camera, self.cfg, self.flow, self.flow_lm = bound, camera, cfg, flow, flow_lm

    def evaluate(self, x: torch.Tensor, loss: Loss, linearize: bool) -> Linearization:
        # always with the normal equations: a rejected step is rare, so a trial point is
        # almost always the next linearisation point
        e, ev, H, g, _ = batch_energy(self.lm, self.shape, x, self.targets, self.prior, self.camera, self.cfg,
                                      blocks=True, robust_kind=loss, bound=self.bound)
        step = self.step
        d = x[1:] - x[:-1]
        energy = e + 0.5 * (step * d * d).sum()
        # the temporal term's gradient and diagonal blocks
        g = g.clone()
        g[1:] += step * d
        g[:-1] -= step * d
        nb = torch.full((len(x), 1), 2.0, dtype=x.dtype, device=x.device)
        nb[0] = nb[-1] = 1.0
        if len(x) == 1:
            nb[0] = 0.0
        lower = None
        if self.flow is not None and len(x) > 1:
            if self.flow_lm is not None:  # the flow's own points
                c = self.camera
                ev = self.flow_lm.evaluate(self.shape, *unpack(x.to(self.lm.dtype), self.lm.n_expression), c.fx, c.fy,
                                           c.cx, c.cy, jacobian=True)
            fb = flow_term(ev.uv, ev.jac, self.flow, loss, self.cfg.robust.scale)
            energy, g, H, lower = energy + fb.energy, g + fb.g, H + fb.D, fb.lower
        return Linearization(energy, BlockTridiagonalSystem(H + torch.diag_embed(nb * step), step, g, lower))

    def retract(self, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return x + delta


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
    reprojection error above ``cfg.solver.diverged_iod`` inter-ocular distances).
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

    flow_lm = None
    if cfg.flow.weight > 0 and cfg.flow.points == "all" and cfg.model.max_landmarks:
        flow_lm = landmark_model_for(model, replace(cfg, model=replace(cfg.model, max_landmarks=0)), lm.embedding, dt,
                                     device)
    flm = flow_lm or lm
    flow = make_flow_targets(track, flm.mp_index, flm.source_index, flm.embedding, cfg.flow, targets.iod, device=device)
    problem = _ClipProblem(lm, shape, targets, prior, step, bound, camera, cfg, flow, flow_lm)
    schedule = Schedule(cfg.solver.max_iterations, cfg.solver.tolerance, cfg.solver.damping, cfg.robust.loss,
                        cfg.robust.warmup, warmup_within_budget=False, carry_damping=False)
    try:
        result = levenberg_marquardt(problem, x, schedule)
    except NonFiniteEnergy as exc:
        raise FitError(f"{name}: fit diverged ({exc})") from None
    x, converged, it = result.x, result.converged, result.steps
    if not torch.isfinite(x).all():
        raise FitError(f"{name}: fit diverged (non-finite parameters)")
    # final errors at the solution
    _, ev, _, _, _ = batch_energy(lm, shape, x, targets, prior, camera, cfg)
    err_px = torch.linalg.norm(ev.uv - targets.uv, dim=-1).mean(1).cpu().numpy()
    valid = track.valid.copy()
    err_px = np.where(valid, err_px, -1.0)
    err_iod = np.where(valid, err_px / targets.iod, -1.0)
    med = float(np.median(err_iod[valid]))
    if not np.isfinite(med) or med > cfg.solver.diverged_iod:
        raise FitError(f"{name}: fit diverged (median reprojection error {med:.2f} inter-ocular distances)")
    expr, jaw, rot, trans = (a.cpu().numpy().astype(np.float32) for a in unpack(x, E))
    return ClipFit(shape=np.asarray(identity.shape, np.float32), expression=expr, jaw=jaw, head_rotation=rot,
                   head_translation=trans, camera=camera, fit_error=err_px.astype(np.float32),
                   fit_error_iod=err_iod.astype(np.float32), valid=valid, interpolated=~valid,
                   converged=converged, iterations=it, embedding=lm.embedding)
