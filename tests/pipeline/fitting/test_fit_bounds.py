"""One-sided bounds (jaw, FACS-like activations) and landmark confidence groups."""

import numpy as np
import pytest
import torch

from pipeline.fitting import BoundConfig, FitConfig, fit_clip
from pipeline.fitting.clip import landmark_model_for
from pipeline.fitting.init import jaw_open_sign
from pipeline.fitting.landmark_groups import MP_BROWS, MP_EYES, MP_LIPS, MP_NOSE, MP_OVAL, landmark_weights
from pipeline.fitting.problem import bound_terms, frame_bounds
from synthetic_tracks import CAM, known_identity, make_clip
from toy_model import toy_model


def test_bounds_follow_the_model_semantics(demo):
    cfg = FitConfig()
    lm = landmark_model_for(demo, cfg)
    b = frame_bounds(lm, cfg, demo.expression_names).numpy()
    E = lm.n_expression
    names = demo.expression_names[:E]
    # every named activation is kept >= 0, except the signed shift; the jaw only opens
    assert all(b[i] > 0 for i, n in enumerate(names) if n != "mouth_shift_left")
    assert b[names.index("mouth_shift_left")] == 0
    assert np.sign(b[E]) == jaw_open_sign(lm) and b[E + 1:].tolist() == [0.0] * 8
    # a PCA basis (FLAME-style expr_### names) is signed; "on" forces the bound
    toy = toy_model()
    tl = landmark_model_for(toy, cfg, embedding="mediapipe")
    assert not frame_bounds(tl, cfg, toy.expression_names)[: tl.n_expression].any()
    on = FitConfig(bounds=BoundConfig(nonnegative_expression="on"))
    assert frame_bounds(tl, on, toy.expression_names)[: tl.n_expression].gt(0).all()
    off = FitConfig(bounds=BoundConfig(nonnegative_expression="off", jaw_nonnegative=False))
    assert not frame_bounds(lm, off, demo.expression_names).any()


def test_bound_energy_is_one_sided():
    bound = torch.tensor([4.0, -4.0, 0.0], dtype=torch.float64)
    x = torch.tensor([[0.5, 0.5, -3.0], [-0.5, -0.5, 3.0]], dtype=torch.float64)
    e, g, h = bound_terms(x, bound)
    # only x[0,1] (above a <= 0 bound) and x[1,0] (below a >= 0 bound) are penalised
    assert float(e) == pytest.approx(2 * 0.5 * 4.0 * 0.25)
    np.testing.assert_allclose(h.numpy(), [[0, 4, 0], [4, 0, 0]])
    np.testing.assert_allclose(g.numpy(), [[0, 2.0, 0], [-2.0, 0, 0]])
    e0, g0, _ = bound_terms(x, None)
    assert float(e0) == 0 and not g0.any()


def test_fit_keeps_activations_and_jaw_in_range(demo):
    rng = np.random.default_rng(4)
    shape = rng.normal(size=demo.n_shape) * 0.5
    c = make_clip(demo, shape, CAM, n_frames=40, seed=5, noise_px=2.0)
    ident = known_identity(shape)
    lm = landmark_model_for(demo, FitConfig())
    E, sign = lm.n_expression, jaw_open_sign(lm)
    signed = [demo.expression_names.index("mouth_shift_left")]
    act = np.setdiff1d(np.arange(E), signed)

    def lowest(cfg):
        fit = fit_clip(c.track, ident, demo, cfg=cfg)
        return fit.expression[:, act].min(), (sign * fit.jaw[:, 0]).min(), fit

    free_e, free_j, _ = lowest(FitConfig(bounds=BoundConfig(nonnegative_expression="off", jaw_nonnegative=False)))
    low_e, low_j, fit = lowest(FitConfig())
    assert free_e < -0.15  # without the bound, noise drives activations well below rest
    assert low_e > -0.1 and low_j > -0.05  # with it they stay at (soft) zero
    assert np.abs(fit.expression - c.expression).mean() < 0.1


def test_landmark_weights_by_group():
    idx = np.concatenate([MP_LIPS[:2], MP_EYES[:2], MP_BROWS[:2], MP_OVAL[:2], MP_NOSE[:2], [50, 205]])
    w = landmark_weights(idx, 1.0, 0.9, 0.3, 0.2, 0.8, 0.1)
    np.testing.assert_allclose(w, [1, 1, 0.9, 0.9, 0.3, 0.3, 0.2, 0.2, 0.8, 0.8, 0.1, 0.1])
    # the groups do not overlap, so the order of assignment does not matter
    groups = [set(g.tolist()) for g in (MP_LIPS, MP_EYES, MP_BROWS, MP_OVAL, MP_NOSE)]
    assert all(not (a & b) for i, a in enumerate(groups) for b in groups[i + 1:])
