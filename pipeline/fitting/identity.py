"""Per-actor identity: one shape (and optionally the focal length) from frames sampled
across all of the actor's clips.

The unknowns are the shared shape coefficients (+ log focal length) and, per sampled frame,
expression, jaw and head pose. The frames are independent given the shared unknowns, so
the Gauss-Newton normal matrix has an arrow structure: the per-frame blocks are eliminated
(Schur complement) and only an ``S x S`` system is solved for the shared part, then the
per-frame updates follow by back-substitution. Levenberg-Marquardt damping throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera
from emoface.morphable.reference import reference_expression

from .config import FitConfig
from .init import default_camera
from .landmark_model import LandmarkModel
from .problem import Targets, batch_energy, frame_bounds, frame_priors, initial_params, make_targets, unpack
from .solver import ArrowSystem, Linearization, Loss, NonFiniteEnergy, Schedule, cross_blocks, levenberg_marquardt
from .types import FitError, IdentityFit, LandmarkTrack

__all__ = ["fit_identity", "sample_frames", "scale_direction"]


def scale_direction(model, n_shape: int, max_residual: float = 0.3) -> np.ndarray:
    """Unit vector ``(n_shape,)`` of shape coefficients that best scales the whole face.

    A pinhole image of a face scaled by ``s`` at ``s`` times the distance is identical, so
    the overall size is invisible to landmark fitting; left free, it drifts wherever the
    per-frame expression prior pushes it (smaller faces need smaller expression
    coefficients). The fit therefore pins the coefficient along this direction to its prior
    mean (the model's mean size). Found by least squares: ``shapedirs @ b + t ~ v_template``.
    When the basis cannot express a scaling (relative residual above ``max_residual``) the
    zero vector is returned and nothing is pinned.
    """
    V = model.v_template.shape[0]
    S = np.asarray(model.shapedirs, np.float64)[..., :n_shape].reshape(V * 3, -1)
    A = np.concatenate([S, np.tile(np.eye(3), (V, 1))], 1)
    target = np.asarray(model.v_template, np.float64)
    coef = np.linalg.lstsq(A, target.reshape(-1), rcond=None)[0]
    residual = np.linalg.norm(target.reshape(-1) - A @ coef) / max(np.linalg.norm(target - target.mean(0)), 1e-12)
    b = coef[:n_shape]
    n = np.linalg.norm(b)
    if residual > max_residual or n == 0:
        return np.zeros(n_shape)
    return b / n


def sample_frames(tracks: list[LandmarkTrack], n: int, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    """Up to ``n`` detected frames spread evenly over ``tracks``: ``[(track index, frame indices)]``.

    Each clip gets an equal share (more when others are short), evenly spaced in time;
    deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    avail = [np.nonzero(t.valid)[0] for t in tracks]
    total = sum(len(a) for a in avail)
    if total == 0:
        return []
    n = min(n, total)
    share = np.zeros(len(tracks), dtype=int)
    left = n
    order = np.argsort([len(a) for a in avail], kind="stable")
    for rank, i in enumerate(order):  # shortest first, so spare quota flows to longer clips
        k = min(len(avail[i]), left // (len(tracks) - rank))
        share[i] = k
        left -= k
    out = []
    for i, a in enumerate(avail):
        if share[i] == 0:
            continue
        pos = (np.arange(share[i]) + rng.uniform(0.25, 0.75)) * len(a) / share[i]
        out.append((i, a[np.clip(pos.astype(int), 0, len(a) - 1)]))
    return out


def fit_identity(tracks: list[LandmarkTrack], model, camera: PinholeCamera | None = None, cfg: FitConfig | None = None,
                 device: str | torch.device = "cpu") -> IdentityFit:
    """Fit one actor's shape from frames sampled across ``tracks`` (all of the same size).

    Args:
        tracks: the actor's clips (detector output).
        model: the morphable model.
        camera: the prior camera (default :func:`~pipeline.fitting.init.default_camera` from
            ``cfg.camera``); with ``cfg.camera.estimate_focal`` its focal length is refined.
        cfg: fitter settings; device: torch device.

    Returns an :class:`IdentityFit` (shape, camera). Raises :class:`FitError` when no frame
    has a face, the tracks disagree in size, or the solve diverges.
    """
    from .clip import _dtype, landmark_model_for

    cfg = cfg or FitConfig()
    if not tracks:
        raise FitError("identity fit: no clips given")
    sizes = {(t.width, t.height) for t in tracks}
    if len(sizes) != 1:
        raise FitError(f"identity fit: clips differ in size {sorted(sizes)}; one camera per actor needs one size")
    w, h = sizes.pop()
    camera = camera or default_camera(w, h, cfg.camera)
    if (camera.width, camera.height) != (w, h):
        raise FitError(f"identity fit: camera is {camera.width}x{camera.height} but the videos are {w}x{h}")
    picks = sample_frames(tracks, cfg.identity.frames, cfg.identity.seed)
    if not picks:
        raise FitError(f"identity fit: no face detected in any of {len(tracks)} clips "
                       f"({', '.join(t.clip_id for t in tracks[:3] if t.clip_id)})")
    dt = _dtype(cfg)
    lm = landmark_model_for(model, cfg, dtype=dt, device=device)
    E, S = lm.n_expression, lm.n_shape
    est_f = bool(cfg.camera.estimate_focal)
    G = S + (1 if est_f else 0)
    f64 = torch.float64

    # targets and initial values per sampled frame
    zero_shape = torch.zeros(S, dtype=dt, device=device)
    parts: list[Targets] = []
    xs: list[torch.Tensor] = []
    for i, frames in picks:
        t = make_targets(tracks[i], lm, cfg, frames=frames, dtype=dt, device=device)
        parts.append(t)
        xs.append(initial_params(tracks[i], lm, zero_shape, t, camera, cfg, model.expression_names, frames=frames))
    targets = Targets.concat(parts)
    logf0 = float(np.log(camera.fx))
    x = _to_image_translation(torch.cat(xs), logf0, E)  # (N, K) float64
    N = len(x)
    prior, _ = frame_priors(lm, cfg, f64, device)
    bound = frame_bounds(lm, cfg, model.expression_names, f64, device)
    # detector errors are correlated across frames of one face: let the sampled frames count
    # as ``identity.effective_frames`` frames of evidence against the shape prior
    c = min(1.0, float(cfg.identity.effective_frames) / N)
    targets = targets.scaled(c)
    prior = prior * c
    bound = bound * c
    beta = torch.zeros(S, dtype=f64, device=device)
    logf = torch.tensor(logf0, dtype=f64, device=device)
    gprior = torch.full((G,), 1.0 / cfg.prior.shape_std**2, dtype=f64, device=device)
    if est_f:
        gprior[S] = 1.0 / cfg.camera.focal_log_std**2
    # shape prior precision (S, S): isotropic, plus (fix_scale) a stiff term along the
    # overall-size direction, which images cannot observe (see scale_direction)
    Pshape = torch.diag(gprior[:S])
    if cfg.prior.fix_scale:
        u = torch.as_tensor(scale_direction(model, S), dtype=f64, device=device)
        Pshape = Pshape + cfg.prior.scale_precision * torch.outer(u, u)
    lo = float(np.log(0.5 * h / np.tan(np.deg2rad(cfg.camera.max_fov_y_deg) / 2)))
    hi = float(np.log(0.5 * h / np.tan(np.deg2rad(cfg.camera.min_fov_y_deg) / 2)))
    chunk = max(1, int(cfg.identity.chunk))

    problem = _IdentityProblem(lm, targets, prior, bound, camera, cfg, Pshape, gprior, logf0, est_f, (lo, hi), dt)
    schedule = Schedule(cfg.identity.iterations, cfg.solver.tolerance, cfg.solver.damping, cfg.robust.loss,
                        cfg.robust.warmup, warmup_within_budget=True, carry_damping=True)
    try:
        result = levenberg_marquardt(problem, _Point(beta, logf, x), schedule)
    except NonFiniteEnergy as exc:
        raise FitError(f"identity fit diverged ({exc})") from None
    beta, logf, x, converged = result.x.beta, result.x.logf, result.x.frames, result.converged
    if not (torch.isfinite(beta).all() and torch.isfinite(x).all()):
        raise FitError("identity fit diverged (non-finite parameters)")
    # median reprojection error over the sampled frames, as a fraction of the inter-ocular distance
    errs = []
    for a in range(0, N, chunk):
        b = min(N, a + chunk)
        t = targets.rows(a, b)
        _, ev, _, _, _ = batch_energy(lm, beta.to(dt), x[a:b], t, prior, camera, cfg, fx=torch.exp(logf).to(dt),
                                      reparam=_ImageTranslation(logf, E))
        px = torch.linalg.norm(ev.uv - t.uv, dim=-1).mean(1).to(f64)
        errs.append(px / t.iod)
    err = float(torch.cat(errs).median())
    if not np.isfinite(err) or err > cfg.solver.diverged_iod:
        raise FitError(f"identity fit diverged (median reprojection error {err:.2f} inter-ocular distances)")
    f = float(torch.exp(logf))
    cam = PinholeCamera(f, f * camera.fy / camera.fx, camera.cx, camera.cy, camera.width, camera.height)
    shape = np.zeros(model.shapedirs.shape[-1], np.float32)
    shape[:S] = beta.cpu().numpy()
    return IdentityFit(shape=shape, camera=cam, n_frames=N, error_iod=err, focal_estimated=est_f,
                       embedding=lm.embedding, model_name=model.name, converged=converged,
                       expression_reference=reference_expression(unpack(x, E)[0].cpu().numpy(), cfg.identity.expression_reference))


def _to_image_translation(x: torch.Tensor, logf: float, E: int) -> torch.Tensor:
    """Per-frame translation ``t`` -> image-space ``(a, b, log s)``: ``s = f / -t_z`` (px per metre at
    the head) and ``(a, b) = s (t_x, t_y)`` (the model origin's pixel offset from the centre).

    With this parametrisation a change of focal length moves every frame's depth along with
    it (constant image size), which removes the focal/depth coupling that makes a plain
    Gauss-Newton crawl along a curved valley.
    """
    out = x.clone()
    t = x[:, E + 6:E + 9]
    s = torch.exp(torch.as_tensor(logf, dtype=x.dtype, device=x.device)) / (-t[:, 2])
    out[:, E + 6] = t[:, 0] * s
    out[:, E + 7] = t[:, 1] * s
    out[:, E + 8] = torch.log(s)
    return out


class _ImageTranslation:
    """``reparam`` hook of :func:`batch_energy` for the image-space translation (see above)."""

    def __init__(self, logf: torch.Tensor, E: int):
        self.logf, self.E = logf, E

    def __call__(self, x: torch.Tensor):
        E = self.E
        a, b, logs = x[:, E + 6], x[:, E + 7], x[:, E + 8]
        inv = torch.exp(-logs)
        t = torch.stack([a * inv, b * inv, -torch.exp(self.logf - logs)], -1)
        xm = torch.cat([x[:, :E + 6], t], 1)

        def fix(ev) -> None:
            dt = ev.uv.dtype
            if ev.jac is not None:
                jt = ev.jac[:, :, E + 6:E + 9].clone()  # d uv / d t  (N, 2, 3, L)
                tt = t.to(dt)[:, None, :, None]
                ev.jac[:, :, E + 6] = jt[:, :, 0] * inv[:, None, None].to(dt)
                ev.jac[:, :, E + 7] = jt[:, :, 1] * inv[:, None, None].to(dt)
                ev.jac[:, :, E + 8] = -(jt * tt).sum(2)
                if ev.jac_logf is not None:  # d t / d log f = (0, 0, t_z) at fixed (a, b, log s)
                    ev.jac_logf = ev.jac_logf + jt[:, :, 2] * tt[:, :, 2]
        return xm, fix


@dataclass
class _Point:
    """A point of the identity problem: shape, log focal length, per-frame parameters ``(N, K)``
    (translation in the image-space form of :func:`_to_image_translation`)."""

    beta: torch.Tensor
    logf: torch.Tensor
    frames: torch.Tensor


class _IdentityProblem:
    """The identity energy for :func:`~pipeline.fitting.solver.levenberg_marquardt`: frames
    accumulated in chunks into an arrow-structured normal system (shared shape [+ log focal
    length] against independent per-frame blocks), plus the shape (and focal length) prior."""

    def __init__(self, lm: LandmarkModel, targets: Targets, prior: torch.Tensor, bound: torch.Tensor,
                 camera: PinholeCamera, cfg: FitConfig, Pshape: torch.Tensor, gprior: torch.Tensor, logf0: float,
                 est_f: bool, logf_range: tuple[float, float], dt: torch.dtype):
        self.lm, self.targets, self.prior, self.bound, self.camera, self.cfg = lm, targets, prior, bound, camera, cfg
        self.Pshape, self.gprior, self.logf0, self.est_f, self.logf_range, self.dt = (Pshape, gprior, logf0, est_f,
                                                                                       logf_range, dt)
        self.S = lm.n_shape
        self.G = self.S + (1 if est_f else 0)
        self.chunk = max(1, int(cfg.identity.chunk))

    def evaluate(self, p: _Point, loss: Loss, linearize: bool) -> Linearization:
        S, G, est_f, f64 = self.S, self.G, self.est_f, torch.float64
        beta_, logf_, x_ = p.beta, p.logf, p.frames
        dev = x_.device
        e_sum = 0.5 * beta_ @ self.Pshape @ beta_
        if est_f:
            e_sum = e_sum + 0.5 * self.gprior[S] * (logf_ - self.logf0) ** 2
        Hs, gs, Hc = [], [], []
        Hgg = torch.zeros(G, G, dtype=f64, device=dev)
        gg = torch.zeros(G, dtype=f64, device=dev)
        sh, f = beta_.to(self.dt), torch.exp(logf_).to(self.dt)
        N, E = len(x_), self.lm.n_expression
        for a in range(0, N, self.chunk):
            b = min(N, a + self.chunk)
            t = self.targets.rows(a, b)
            e, ev, H, g, wgt = batch_energy(self.lm, sh, x_[a:b], t, self.prior, self.camera, self.cfg, fx=f,
                                            blocks=linearize, shape_blocks=linearize,
                                            reparam=_ImageTranslation(logf_, E), robust_kind=loss, bound=self.bound)
            e_sum = e_sum + e
            if linearize:
                jg = torch.cat([ev.jac_shape, ev.jac_logf[:, :, None]], 2) if est_f else ev.jac_shape
                hc, _ = cross_blocks(ev.jac, jg, None, wgt)
                _, gpart = cross_blocks(jg, jg[:, :, :0], (ev.uv - t.uv).transpose(1, 2).contiguous(), wgt)
                hgg, _ = cross_blocks(jg, jg, None, wgt)
                Hs.append(H)
                gs.append(g)
                Hc.append(hc.to(f64))
                Hgg = Hgg + hgg.to(f64).sum(0)
                gg = gg + gpart.to(f64).sum(0)
        if not linearize:
            return Linearization(e_sum)
        gg[:S] += self.Pshape @ beta_
        if est_f:
            gg[S] += self.gprior[S] * (logf_ - self.logf0)
        Hgg[:S, :S] += self.Pshape
        if est_f:
            Hgg[S, S] += self.gprior[S]
        return Linearization(e_sum, ArrowSystem(torch.cat(Hs), torch.cat(gs), torch.cat(Hc), Hgg, gg))

    def retract(self, p: _Point, step: tuple[torch.Tensor, torch.Tensor]) -> _Point:
        dg, dxf = step
        logf = (p.logf + dg[self.S]).clamp(*self.logf_range) if self.est_f else p.logf
        return _Point(p.beta + dg[:self.S], logf, p.frames + dxf)
