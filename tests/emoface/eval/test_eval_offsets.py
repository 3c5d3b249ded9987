"""Offset errors (emoface.eval.offsets) on hand-computed cases."""

import numpy as np
import pytest

from emoface.eval.offsets import offset_errors, region_offset_errors

MM = 1e-3


def _truth(T: int = 4, V: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    template = rng.normal(size=(V, 3)) * 0.05
    return template + rng.normal(size=(T, V, 3)) * 0.002, template


def test_fit_equal_to_truth_gives_zero():
    g, g0 = _truth()
    e = offset_errors(g, g0, g, g0)
    assert e.total == e.static == e.dynamic == 0.0
    assert e.true_total > 0 and e.n_frames == 4 and e.n_vertices == 3


def test_identity_difference_cancels():
    """Another template (identity) moved with every frame leaves the offsets, hence the errors, at 0."""
    g, g0 = _truth()
    d = np.random.default_rng(1).normal(size=g0.shape) * 0.01
    e = offset_errors(g + d, g0 + d, g, g0)
    assert e.total == pytest.approx(0, abs=1e-9) and e.static == pytest.approx(0, abs=1e-9)


def test_constant_offset_is_static_only():
    g, g0 = _truth()
    c = np.array([3.0, 0.0, 4.0]) * MM  # 5 mm, held through the clip
    e = offset_errors(g + c, g0, g, g0)
    assert e.static == pytest.approx(5.0)
    assert e.total == pytest.approx(5.0)
    assert e.dynamic == pytest.approx(0.0, abs=1e-9)


def test_zero_mean_oscillation_is_dynamic_only():
    g, g0 = _truth(T=6)
    sign = np.array([1, -1, 1, -1, 1, -1], np.float64)[:, None, None]
    f = g + sign * np.array([0.0, 2.0, 0.0]) * MM
    e = offset_errors(f, g0, g, g0)
    assert e.static == pytest.approx(0.0, abs=1e-9)
    assert e.dynamic == pytest.approx(2.0)
    assert e.total == pytest.approx(2.0)


def test_truth_magnitudes_hand_computed():
    # one vertex, true offsets 1 and 3 mm along x: total mean |g| = 2, clip mean 2, dynamic |+-1| = 1
    g0 = np.zeros((1, 3))
    g = np.array([[[1.0, 0, 0]], [[3.0, 0, 0]]]) * MM
    f = np.array([[[1.0, 0, 0]], [[1.0, 0, 0]]]) * MM  # the fit holds 1 mm: static error 1, dynamic 1
    e = offset_errors(f, g0, g, g0)
    assert (e.true_total, e.true_static, e.true_dynamic) == pytest.approx((2.0, 2.0, 1.0))
    assert (e.total, e.static, e.dynamic) == pytest.approx((1.0, 1.0, 1.0))


def test_regions_and_shorter_sequence():
    g, g0 = _truth(T=5, V=4)
    f = g.copy()
    f[:, 2] += np.array([0, 0, 1.0]) * MM
    out = region_offset_errors(f[:3], g0, g, g0, {"all": None, "two": [2], "other": [0, 1]})
    assert out["two"].static == pytest.approx(1.0) and out["two"].n_frames == 3
    assert out["all"].static == pytest.approx(0.25)
    assert out["other"].total == pytest.approx(0.0, abs=1e-9)


def test_bad_shapes_are_refused():
    g, g0 = _truth()
    with pytest.raises(ValueError, match="fit_template"):
        offset_errors(g, g0[:2], g, g0)
    with pytest.raises(ValueError, match="empty"):
        offset_errors(g, g0, g, g0, [])
    with pytest.raises(ValueError, match="vertices"):
        offset_errors(g[:, :2], g0[:2], g, g0)
