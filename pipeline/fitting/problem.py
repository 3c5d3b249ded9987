"""What the clip fit and the identity fit share: targets, noise scale, weights, the energy
of one batch of frames and its Gauss-Newton blocks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera

from .blendshapes import ExpressionObservations, expression_observations
from .config import FitConfig
from .init import (initial_expression, initial_jaw_open, initial_rotation, initial_rotation_from_points,
                   initial_translation, interpolate_missing, jaw_open_sign)
from .landmark_groups import landmark_weights
from .landmark_model import LandmarkModel
from .schemes import track_columns
from .solver import normal_blocks, robust
from .types import FitError, LandmarkTrack, inter_ocular_px

__all__ = ["Targets", "make_targets", "frame_priors", "frame_bounds", "bound_terms", "initial_params", "batch_energy",
           "unpack"]


@dataclass
class Targets:
    """Detector landmarks of N frames in the model's landmark order.

    ``uv (N, L, 2)`` px, ``weight (N, L)`` (0 for frames without a detection), ``sigma`` px
    (the noise std; a float, or ``(N,)`` per frame when frames come from several clips),
    ``iod`` px (median inter-ocular distance; a float or ``(N,)``), ``expression_obs``: the
    detector's blendshape scores as observations of the expression (``fit.blendshapes``), or None.
    """

    uv: torch.Tensor
    weight: torch.Tensor
    sigma: float | torch.Tensor
    iod: float | torch.Tensor
    expression_obs: ExpressionObservations | None = None

    def rows(self, a: int, b: int) -> "Targets":
        """Frames ``a:b``."""
        pick = lambda v: v[a:b] if torch.is_tensor(v) else v  # noqa: E731
        obs = None if self.expression_obs is None else self.expression_obs.frames(a, b)
        return Targets(self.uv[a:b], self.weight[a:b], pick(self.sigma), pick(self.iod), obs)

    def scaled(self, c: float) -> "Targets":
        """Every observation's weight times ``c`` (the landmarks' and the blendshape scores')."""
        obs = None if self.expression_obs is None else self.expression_obs.scaled(c)
        return Targets(self.uv, self.weight * c, self.sigma, self.iod, obs)

    @staticmethod
    def concat(parts: list["Targets"]) -> "Targets":
        """Stack targets of several clips (per-frame sigma and IOD)."""
        def per_frame(v, n):
            return v if torch.is_tensor(v) else torch.full((n,), float(v), dtype=torch.float64, device=dev)
        dev = parts[0].uv.device
        obs = ExpressionObservations.concat([p.expression_obs for p in parts], [len(p.uv) for p in parts])
        return Targets(torch.cat([p.uv for p in parts]), torch.cat([p.weight for p in parts]),
                       torch.cat([per_frame(p.sigma, len(p.uv)) for p in parts]),
                       torch.cat([per_frame(p.iod, len(p.uv)) for p in parts]), obs)


def make_targets(track: LandmarkTrack, lm: LandmarkModel, cfg: FitConfig, frames: np.ndarray | None = None,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu", iod: float | None = None) -> Targets:
    """Targets of ``track`` (all frames, or the rows ``frames``)."""
    lmk = track.landmarks if frames is None else track.landmarks[frames]
    valid = track.valid if frames is None else track.valid[frames]
    cols, present = track_columns(track.scheme, lm.embedding, lm.source_index, lm.mp_index)
    if not present.any():
        raise FitError(f"{track.clip_id or 'clip'}: no landmark of the {lm.embedding} embedding has a "
                       f"{track.scheme} point")
    if lmk.shape[1] <= int(cols.max()):
        raise FitError(f"{track.clip_id}: track has {lmk.shape[1]} landmarks, the {lm.embedding} embedding needs "
                       f"{track.scheme} point {int(cols.max())}")
    pts = lmk[:, cols, :2].astype(np.float64)
    bad = valid & ~np.isfinite(pts[:, present]).all(axis=(1, 2))
    if bad.any():
        raise FitError(f"{track.clip_id or 'clip'}: non-finite landmarks in {int(bad.sum())} detected frame(s) "
                       f"(first: {int(np.argmax(bad))})")
    if iod is None:
        good = track.landmarks[track.valid]
        if len(good) == 0:
            raise FitError(f"{track.clip_id or 'clip'}: no face detected in any frame")
        iod = float(np.median(inter_ocular_px(good, track.scheme)))
    if not np.isfinite(iod) or iod <= 1.0:
        raise FitError(f"{track.clip_id or 'clip'}: degenerate landmarks (inter-ocular distance {iod:.2f} px)")
    uv = np.nan_to_num(pts)
    gw = cfg.landmarks.weights
    lw = landmark_weights(lm.mp_index, gw.lips, gw.eyes, gw.brows, gw.oval, gw.nose, gw.other)
    w = valid[:, None].astype(np.float64) * lw[None]
    if not present.all():
        w = w * present[None]
    if track.confidence is not None:  # the detector's per-point confidence scales each point's weight
        conf = track.confidence if frames is None else track.confidence[frames]
        w = w * conf[:, cols].astype(np.float64)
    bs = track.blendshapes
    obs = expression_observations(None if bs is None else (bs if frames is None else bs[frames]), track.blendshape_names,
                                  valid, lm.expression_names, cfg.blendshapes, device)
    return Targets(torch.as_tensor(uv, dtype=dtype, device=device), torch.as_tensor(w, dtype=dtype, device=device),
                   float(cfg.landmarks.noise_iod * iod), iod, obs)


def frame_priors(lm: LandmarkModel, cfg: FitConfig, dtype=torch.float64, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame prior precisions ``(K,)`` and temporal-smoothness precisions ``(K,)``."""
    E = lm.n_expression
    prior = torch.zeros(E + 9, dtype=dtype, device=device)
    pc, tc = cfg.prior, cfg.temporal
    prior[:E] = 1.0 / pc.expression_std**2
    prior[E:E + 3] = 1.0 / torch.as_tensor(pc.jaw_std, dtype=dtype, device=device) ** 2
    step = torch.empty(E + 9, dtype=dtype, device=device)
    step[:E] = 1.0 / tc.expression_step_std**2
    step[E:E + 3] = 1.0 / tc.jaw_step_std**2
    step[E + 3:E + 6] = 1.0 / tc.rotation_step_std**2
    step[E + 6:] = 1.0 / tc.translation_step_std**2
    return prior, step


def frame_bounds(lm: LandmarkModel, cfg: FitConfig, expression_names: list[str], dtype=torch.float64,
                 device="cpu") -> torch.Tensor:
    """One-sided bounds of the per-frame parameters as a signed precision ``(K,)``.

    Entry ``k`` of value ``b``: ``b > 0`` keeps parameter ``k`` from going below 0, ``b < 0`` from
    going above 0, with the energy ``1/2 |b| x^2`` on the wrong side only; ``0`` is unbounded.
    Bounded (``cfg.bounds``): the jaw opening (``jaw_nonnegative``; the side that opens the model's
    mouth) and the expression components that are activations (``nonnegative_expression``; ``auto``:
    components with names other than FLAME's ``expr_###``, minus ``two_sided_expressions``).
    """
    import re

    E = lm.n_expression
    b = torch.zeros(E + 9, dtype=dtype, device=device)
    bc = cfg.bounds
    prec = 1.0 / bc.std**2
    mode = bc.nonnegative_expression
    names = list(expression_names[:E])
    for e, name in enumerate(names):
        named = not re.fullmatch(r"expr_?\d+", name)
        if (mode == "on" or (mode == "auto" and named)) and name not in bc.two_sided_expressions:
            b[e] = prec
    if bc.jaw_nonnegative:
        b[E] = prec * jaw_open_sign(lm)
    return b


def bound_terms(x: torch.Tensor, bound: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Energy, gradient ``(N, K)`` and Gauss-Newton diagonal ``(N, K)`` of the one-sided bounds."""
    if bound is None:
        z = torch.zeros_like(x)
        return x.new_zeros(()), z, z
    active = (x * torch.sign(bound)) < 0
    w = torch.where(active, bound.abs().expand_as(x), torch.zeros_like(x))
    return 0.5 * (w * x * x).sum(), w * x, w


def unpack(x: torch.Tensor, E: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(N, E+9)`` -> expression, jaw, rotation, translation."""
    return x[:, :E], x[:, E:E + 3], x[:, E + 3:E + 6], x[:, E + 6:E + 9]


def initial_params(track: LandmarkTrack, lm: LandmarkModel, shape: torch.Tensor, targets: Targets,
                   camera: PinholeCamera, cfg: FitConfig, expression_names: list[str], frames: np.ndarray | None = None,
                   fx: float | None = None) -> torch.Tensor:
    """Initial per-frame parameters ``(N, E+9)`` from the detector; undetected frames interpolated."""
    sel = slice(None) if frames is None else frames
    valid = track.valid[sel]
    dt, dev = targets.uv.dtype, targets.uv.device
    E = lm.n_expression
    x = np.zeros((len(valid), E + 9))
    bs = None if track.blendshapes is None else track.blendshapes[sel]
    x[:, :E] = initial_expression(bs, track.blendshape_names, expression_names, E, len(valid))
    jaw_open = initial_jaw_open(bs, track.blendshape_names, len(valid))
    x[:, E] = jaw_open_sign(lm) * cfg.init.max_jaw_open_rad * jaw_open
    zero = torch.zeros(len(valid), 3, dtype=dt, device=dev)
    if track.transforms is not None:
        x[:, E + 3:E + 6] = initial_rotation(track.transforms[sel])
    else:  # no head transform from the detector: a PnP fit of the model's landmarks at rest
        expr0 = torch.as_tensor(x[:, :E], dtype=lm.dtype, device=dev)
        jaw0 = torch.as_tensor(x[:, E:E + 3], dtype=lm.dtype, device=dev)
        q0 = lm.evaluate(shape, expr0, jaw0, zero.to(lm.dtype), zero.to(lm.dtype), 1.0, 1.0, 0.0, 0.0).points
        x[:, E + 3:E + 6] = initial_rotation_from_points(q0.double().cpu().numpy(), targets.uv.double().cpu().numpy(),
                                                         targets.weight.double().cpu().numpy(), camera)
    xt = torch.as_tensor(x, dtype=dt, device=dev)
    expr, jaw, rot, _ = unpack(xt, E)
    q = lm.evaluate(shape, expr, jaw, zero, zero, 1.0, 1.0, 0.0, 0.0).points  # model-space landmarks
    xt[:, E + 6:] = initial_translation(q, rot, targets.uv, targets.weight, camera, fx=fx)
    bad = ~torch.isfinite(xt).all(1) | (xt[:, E + 8] > -1e-3)  # must sit in front of the camera
    ok = torch.as_tensor(valid, device=dev) & ~bad
    if not bool(ok.any()):
        raise FitError(f"{track.clip_id or 'clip'}: could not initialise the head pose from the detector")
    return torch.as_tensor(interpolate_missing(xt.cpu().numpy(), ok.cpu().numpy()), dtype=torch.float64, device=dev)


def batch_energy(lm: LandmarkModel, shape: torch.Tensor, x: torch.Tensor, targets: Targets, prior: torch.Tensor,
                 camera: PinholeCamera, cfg: FitConfig, fx: torch.Tensor | float | None = None,
                 blocks: bool = False, shape_blocks: bool = False, reparam=None, robust_kind: str | None = None,
                 bound: torch.Tensor | None = None):
    """Energy of N frames (data + per-frame priors + blendshape observations; no temporal term) and
    optionally its blocks.

    ``x (N, K)`` and ``prior`` are float64 (the solve); the model is evaluated in its own dtype.
    ``bound``: the signed one-sided precisions of :func:`frame_bounds` (or None).
    ``robust_kind`` overrides ``cfg.robust.loss``. ``reparam``: optional ``(x) -> (x_model, fix)`` where ``x_model`` holds the model's
    parameters and ``fix(ev)`` rewrites the Jacobians for the caller's parametrisation.

    Returns ``(energy, ev, H (N,K,K), g (N,K), w (N,L))``; ``H``/``g`` are ``None`` unless
    ``blocks``. ``w`` is the total per-point weight (group x robust IRLS) / sigma^2.
    """
    E = lm.n_expression
    fix = None
    xm = x
    if reparam is not None:
        xm, fix = reparam(x)
    expr, jaw, rot, trans = unpack(xm.to(lm.dtype), E)
    f = camera.fx if fx is None else fx
    fy = f * (camera.fy / camera.fx)
    ev = lm.evaluate(shape, expr, jaw, rot, trans, f, fy, camera.cx, camera.cy, jacobian=blocks,
                     shape_jacobian=shape_blocks)
    sig = targets.sigma[:, None].to(ev.uv.dtype) if torch.is_tensor(targets.sigma) else targets.sigma
    res = ev.uv - targets.uv  # (N, L, 2) px
    e = torch.linalg.norm(res, dim=-1) / sig
    rho, w_irls = robust(e, robust_kind or cfg.robust.loss, cfg.robust.scale)
    eb, gb, hb = bound_terms(x, bound)
    energy = (targets.weight * rho).sum(dtype=torch.float64) + 0.5 * (prior * x * x).sum() + eb
    obs = None
    if targets.expression_obs is not None:  # the blendshape scores (fit.blendshapes)
        obs = targets.expression_obs.terms(x[:, :E], blocks)
        energy = energy + obs[0]
    w = targets.weight * w_irls / sig**2
    H = g = None
    if fix is not None and (blocks or shape_blocks):
        fix(ev)
    if blocks:
        H, g = normal_blocks(ev.jac, res.transpose(1, 2), w)
        H, g = H.to(x.dtype), g.to(x.dtype)
        H = H + torch.diag_embed(prior.expand_as(x) + hb)
        g = g + prior * x + gb
        if obs is not None:
            H[:, :E, :E] += obs[2]
            g[:, :E] += obs[1]
    return energy, ev, H, g, w
