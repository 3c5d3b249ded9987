"""Per-axis landmark weights (``landmarks.weights.lips_horizontal``): the lip points' x residual weighed
apart from their y residual; 1 leaves the fit unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emoface.mesh.camera import PinholeCamera
from emoface.morphable import load
from pipeline.fitting import FitConfig, IdentityFit, fit_clip
from pipeline.fitting.clip import landmark_model_for
from pipeline.fitting.config import load_fit_config
from pipeline.fitting.landmark_groups import MP_LIPS
from pipeline.fitting.problem import batch_energy, frame_priors, make_targets
from pipeline.fitting.solver import cross_blocks
from synthetic_tracks import make_clip

CAM = PinholeCamera.from_fov(1280, 720, 28.0)


@pytest.fixture(scope="module")
def demo():
    return load("demo")


def _cfg(w: float) -> FitConfig:
    return load_fit_config({"landmarks": {"weights": {"lips_horizontal": w}}}, "fit")


def test_cross_blocks_with_one_weight_per_axis():
    rng = np.random.default_rng(0)
    ja, jb = (torch.as_tensor(rng.normal(size=(3, 2, k, 5))) for k in (4, 6))
    res = torch.as_tensor(rng.normal(size=(3, 2, 5)))
    w = torch.as_tensor(rng.uniform(0.1, 1, size=(3, 5)))
    H1, g1 = cross_blocks(ja, jb, res, w)
    H2, g2 = cross_blocks(ja, jb, res, w[:, None, :].expand(3, 2, 5))  # equal weights on both axes
    torch.testing.assert_close(H1, H2)
    torch.testing.assert_close(g1, g2)
    wa = torch.as_tensor(rng.uniform(0.1, 1, size=(3, 2, 5)))
    H3, g3 = cross_blocks(ja, jb, res, wa)
    H_ref = torch.einsum("naki,nai,nali->nkl", ja, wa, jb)
    g_ref = torch.einsum("naki,nai,nai->nk", ja, wa, res)
    torch.testing.assert_close(H3, H_ref)
    torch.testing.assert_close(g3, g_ref)


def test_only_the_lip_points_x_residual_is_reweighed(demo):
    c = make_clip(demo, np.zeros(demo.n_shape), CAM, n_frames=4, seed=1, noise_px=0.0)
    lm = landmark_model_for(demo, FitConfig())
    assert make_targets(c.track, lm, FitConfig()).axis_weight is None  # the default: isotropic
    t = make_targets(c.track, lm, _cfg(0.0))
    lips = np.isin(lm.mp_index, MP_LIPS)
    a = t.axis_weight.numpy()
    assert lips.any() and (a[lips, 0] == 0).all() and (a[lips, 1] == 1).all() and (a[~lips] == 1).all()
    assert t.rows(1, 3).axis_weight is t.axis_weight
    # the true parameters, then the lip points moved along x only: no energy with x weight 0, some with 1
    E = lm.n_expression
    x = torch.as_tensor(np.concatenate([c.expression[:, :E], c.jaw, c.rotation, c.translation], 1))
    prior, _ = frame_priors(lm, FitConfig())
    prior = torch.zeros_like(prior)
    shape = torch.zeros(lm.n_shape, dtype=torch.float64)
    shifted = dataclasses.replace(t, uv=t.uv + torch.as_tensor(np.stack([lips * 5.0, np.zeros(len(lips))], 1)))
    e0, _, H, g, w = batch_energy(lm, shape, x, shifted, prior, CAM, _cfg(0.0), blocks=True)
    e1, _, _, g1, w1 = batch_energy(lm, shape, x, dataclasses.replace(shifted, axis_weight=None), prior, CAM,
                                    FitConfig(), blocks=True)
    assert w.shape == (4, 2, len(lips)) and w1.shape == (4, len(lips))
    assert float(e0) < 1e-6 < 1.0 < float(e1)  # float32 landmarks: a rounding residual is left
    assert float(g.abs().max()) < 1e-3 * float(g1.abs().max())


def test_lips_horizontal_1_is_the_isotropic_fit(demo):
    c = make_clip(demo, np.zeros(demo.n_shape), CAM, n_frames=6, seed=2, noise_px=0.5)
    ident = IdentityFit(np.zeros(demo.n_shape, np.float32), CAM, 1, 0.0, False, "mediapipe", demo.name)
    a = fit_clip(c.track, ident, demo, cfg=FitConfig())
    b = fit_clip(c.track, ident, demo, cfg=_cfg(1.0))
    np.testing.assert_array_equal(a.expression, b.expression)
    low = fit_clip(c.track, ident, demo, cfg=_cfg(0.25))
    assert not np.array_equal(a.expression, low.expression)
    assert np.abs(low.expression - a.expression).max() < 0.2  # clean landmarks: both close to the truth


def test_a_negative_weight_is_refused():
    with pytest.raises(ValueError, match="lips_horizontal"):
        _cfg(-0.5)
