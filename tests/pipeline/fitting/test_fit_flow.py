"""The optical-flow term of the clip fit (``fit.flow``): config, track field, the term, the solver and
the OpenCV observation, on self-generated truth."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from emoface.utils.config import ConfigError
from pipeline.fitting import FitConfig, FitError, FlowConfig, LandmarkTrack, fit_clip, load_fit_config
from pipeline.fitting.flow import FlowCollector, flow_term, make_flow_targets
from pipeline.fitting.landmark_model import LandmarkModel
from pipeline.fitting.solver import block_tridiagonal_matvec, solve_block_tridiagonal
from synthetic_tracks import CAM, make_clip
from synthetic_tracks import known_identity as _identity


def _true_flow(model, clip) -> np.ndarray:
    """The exact image motion of every MediaPipe point of ``clip`` from frame t-1 to t (row 0: NaN)."""
    lm = LandmarkModel(model, "mediapipe", len(clip.shape), clip.expression.shape[1], dtype=torch.float64)
    d = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    uv = lm.evaluate(d(clip.shape), d(clip.expression), d(clip.jaw), d(clip.rotation), d(clip.translation),
                     CAM.fx, CAM.fy, CAM.cx, CAM.cy).uv.numpy()
    flow = np.full((len(uv), 478, 2), np.nan, np.float32)
    flow[1:, lm.mp_index] = uv[1:] - uv[:-1]
    return flow


def test_config_group_is_off_by_default():
    """(Its bad values are one-line errors: tests/pipeline/fitting/test_fit_config.py.)"""
    assert load_fit_config({"flow": {"weight": 2.0}}).flow.weight == 2.0
    assert FitConfig().flow.weight == 0.0  # off by default


def test_track_round_trip_with_and_without_flow(tmp_path):
    rng = np.random.default_rng(0)
    lmk = rng.normal(size=(5, 478, 3)).astype(np.float32)
    flow = rng.normal(size=(5, 478, 2)).astype(np.float32)
    flow[0] = np.nan
    with_flow = LandmarkTrack(lmk, np.ones(5, bool), None, None, 64, 48, clip_id="a", flow=flow)
    with_flow.save(tmp_path / "a.npz")
    back = LandmarkTrack.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.flow, flow)  # NaN where none, kept
    plain = replace(with_flow, flow=None)
    plain.save(tmp_path / "b.npz")
    assert "flow" not in np.load(tmp_path / "b.npz").files  # a track without flow is written as before
    assert LandmarkTrack.load(tmp_path / "b.npz").flow is None
    with pytest.raises(ValueError, match="flow .* does not match"):
        LandmarkTrack(lmk, np.ones(5, bool), None, None, 64, 48, flow=flow[:, :10])


def test_solver_with_coupling_blocks_matches_dense_solve():
    T, K = 6, 4
    g = torch.Generator().manual_seed(1)
    dense = torch.zeros(T * K, T * K, dtype=torch.float64)
    for t in range(T - 1):  # a sum of terms on consecutive pairs of frames: SPD, full coupling blocks
        M = torch.randn(5, 2 * K, generator=g, dtype=torch.float64)
        dense[t * K:(t + 2) * K, t * K:(t + 2) * K] += M.T @ M
    dense += torch.eye(T * K, dtype=torch.float64)
    s = torch.rand(K, generator=g, dtype=torch.float64)
    D = torch.stack([dense[t * K:(t + 1) * K, t * K:(t + 1) * K] for t in range(T)]) + torch.diag(2 * s)
    lower = torch.stack([dense[(t + 1) * K:(t + 2) * K, t * K:(t + 1) * K] for t in range(T - 1)])
    for t in range(T - 1):
        dense[(t + 1) * K:(t + 2) * K, t * K:(t + 1) * K] -= torch.diag(s)
        dense[t * K:(t + 1) * K, (t + 1) * K:(t + 2) * K] -= torch.diag(s)
        dense[t * K:(t + 1) * K, t * K:(t + 1) * K] += torch.diag(2 * s)
    dense[-K:, -K:] += torch.diag(2 * s)
    b = torch.randn(T, K, generator=g, dtype=torch.float64)
    x = solve_block_tridiagonal(D, s, b, lower)
    assert torch.allclose(x, torch.linalg.solve(dense, b.reshape(-1)).reshape(T, K), atol=1e-10)
    assert torch.allclose(block_tridiagonal_matvec(D, s, x, lower), b, atol=1e-10)


def test_term_is_zero_at_the_truth_and_its_blocks_are_the_derivatives(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=6, seed=4, n_expression=8)
    track = replace(c.track, flow=_true_flow(demo, c))
    lm = LandmarkModel(demo, "mediapipe", demo.n_shape, 8, dtype=torch.float64)
    ft = make_flow_targets(track, lm.mp_index, lm.source_index, "mediapipe", FlowConfig(weight=1.0), 60.0)
    x = torch.as_tensor(np.concatenate([c.expression, c.jaw, c.rotation, c.translation], 1))
    d = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731

    def term(x):
        ev = lm.evaluate(d(shape), x[:, :8], x[:, 8:11], x[:, 11:14], x[:, 14:], CAM.fx, CAM.fy, CAM.cx, CAM.cy,
                         jacobian=True)
        return flow_term(ev.uv, ev.jac, ft, "l2", 3.0)

    at_truth = float(term(x).energy)  # the flow is stored as float32: zero to its rounding
    # away from the truth: gradient and Gauss-Newton blocks against autograd (l2: exact up to the
    # second-order part, which vanishes where the residual does, so compare the gradient only)
    x1 = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fb = term(x1)
    assert at_truth < 1e-8 * float(fb.energy)
    xr = x1.clone().requires_grad_(True)
    ev = lm.evaluate(d(shape), xr[:, :8], xr[:, 8:11], xr[:, 11:14], xr[:, 14:], CAM.fx, CAM.fy, CAM.cx, CAM.cy)
    res = ev.uv[1:] - ev.uv[:-1] - ft.f[1:]
    e = 0.5 * (ft.weight[1:] * (res * res).sum(-1)).sum() / ft.sigma**2
    (grad,) = torch.autograd.grad(e, xr)
    assert torch.allclose(fb.energy, e.detach(), rtol=1e-9)
    assert torch.allclose(fb.g, grad, rtol=1e-6, atol=1e-6 * float(grad.abs().max()))
    assert fb.lower.shape == (5, 17, 17) and fb.D.shape == (6, 17, 17)


@pytest.mark.parametrize("points", ["landmarks", "all"])
def test_flow_pulls_the_fit_towards_the_truth(demo, points):
    """Noisy landmarks (3 px) + the exact motion: with the term the fit is closer to the truth
    (at the fitted landmarks, or at every point of the embedding)."""
    rng = np.random.default_rng(0)
    shape = rng.normal(size=demo.n_shape) * 0.5
    c = make_clip(demo, shape, CAM, n_frames=30, seed=5, noise_px=3.0, n_expression=20)
    track = replace(c.track, flow=_true_flow(demo, c))
    base = FitConfig()
    cfg = replace(base, model=replace(base.model, n_expression=20))
    errs = {}
    for w in (0.0, 1.0):
        fit = fit_clip(track, _identity(shape), demo, cfg=replace(cfg, flow=FlowConfig(weight=w, points=points)))
        errs[w] = (np.abs(fit.expression - c.expression).mean(), np.abs(fit.jaw[:, 0] - c.jaw[:, 0]).mean(),
                   np.abs(fit.head_rotation - c.rotation).mean())
    # every part of the motion is closer to the truth with the flow (measured: expression 0.087 ->
    # 0.065, jaw 0.0059 -> 0.0028 rad, head rotation 0.0036 -> 0.0013 rad)
    (e1, j1, r1), (e0, j0, r0) = errs[1.0], errs[0.0]
    assert e1 < 0.85 * e0 and j1 < 0.6 * j0 and r1 < 0.6 * r0, errs


def test_weight_zero_ignores_the_flow_bit_for_bit(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=12, seed=6, noise_px=2.0)
    plain = fit_clip(c.track, _identity(shape), demo, cfg=FitConfig())
    garbage = np.full((12, 478, 2), 50.0, np.float32)
    off = fit_clip(replace(c.track, flow=garbage), _identity(shape), demo, cfg=FitConfig(flow=FlowConfig(weight=0.0)))
    for k in ("expression", "jaw", "head_rotation", "head_translation", "fit_error"):
        np.testing.assert_array_equal(getattr(plain, k), getattr(off, k))


def test_weight_without_flow_in_the_track_is_a_one_line_error(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=5, seed=7, clip_id="clipX")
    with pytest.raises(FitError) as err:
        fit_clip(c.track, _identity(shape), demo, cfg=FitConfig(flow=FlowConfig(weight=1.0)))
    assert "clipX" in str(err.value) and "no flow" in str(err.value) and "\n" not in str(err.value)


def test_collector_measures_a_known_motion_with_opencv():
    """A textured frame zoomed by 3% about (160, 120) and shifted by (2.5, -1.5) px: the flow at each
    point of frame t-1 is its own displacement (so x and y, and the frame sampled, are the right
    ones); no flow in row 0."""
    import cv2

    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, size=(240, 320)).astype(np.float32), (0, 0), 2.0)
    a_ = np.float32([[1.03, 0, 0], [0, 1.03, 0]])
    centre, shift = np.array([160.0, 120.0]), np.array([2.5, -1.5])
    a_[:, 2] = centre - 1.03 * centre + shift  # p -> 1.03 (p - c) + c + shift
    a = np.clip(tex, 0, 255).astype(np.uint8)
    b = np.clip(cv2.warpAffine(tex, a_, (320, 240), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), 0, 255)
    b = b.astype(np.uint8)
    pts = np.zeros((2, 478, 2), np.float32)
    pts[0, :, 0] = rng.uniform(70, 250, size=478)
    pts[0, :, 1] = rng.uniform(50, 190, size=478)
    pts[0, 33], pts[0, 263] = (130, 100), (190, 100)  # outer eye corners: IOD 60 px
    true = (pts[0] - centre) * 0.03 + shift
    pts[1] = pts[0] + true
    col = FlowCollector(pts, np.ones(2, bool), FlowConfig(weight=1.0, max_size=0, preset="medium"))
    col.feed(0, np.repeat(a[..., None], 3, 2))
    col.feed(1, np.repeat(b[..., None], 3, 2))
    assert np.isnan(col.flow[0]).all()
    good = np.isfinite(col.flow[1]).all(1)
    assert good.mean() > 0.9
    err = np.linalg.norm(col.flow[1][good] - true[good], axis=1)
    assert np.median(err) < 0.15, np.median(err)  # the motion spans -0.3 ... +5 px


def test_a_build_config_with_the_flow_term_is_a_one_line_error():
    from pipeline.stages.config import load_build_config

    assert load_build_config(None, {"fit": {"flow": {"weight": 0.0}}}).fit.flow.weight == 0.0
    with pytest.raises(ConfigError) as err:
        load_build_config(None, {"fit": {"flow": {"weight": 1.0}}})
    assert "fit.flow.weight" in str(err.value) and "\n" not in str(err.value)
