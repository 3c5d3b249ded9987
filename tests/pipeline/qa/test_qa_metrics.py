"""QA metric definitions against hand-computed cases."""

import numpy as np
import pytest

from emoface.morphable import load
from pipeline.qa import QAConfig, av_mismatch_s, flags_for, jitter, mouth_opening, pearson, similarity_align


def test_jitter_is_mean_vertex_acceleration_in_mm():
    v = np.zeros((5, 2, 3))
    v[2, 0, 0] = 0.001  # one vertex jumps 1 mm at frame 2
    mean, per_frame = jitter(v)
    # a[1] = |v2 - 2 v1 + v0| = 1 mm on vertex 0 -> 0.5 mm per frame (mean of 2 vertices);
    # a[2] = |v3 - 2 v2 + v1| = 2 mm -> 1.0; a[3] = 1 mm -> 0.5
    assert np.allclose(per_frame[1:4], [0.5, 1.0, 0.5])
    assert np.isnan(per_frame[0]) and np.isnan(per_frame[-1])
    assert mean == pytest.approx(2.0 / 3.0)
    lin = np.linspace(0, 1, 10)[:, None, None] * np.ones((10, 4, 3))  # constant velocity: no jitter
    assert jitter(lin)[0] == pytest.approx(0.0, abs=1e-12)
    assert jitter(np.zeros((2, 3, 3)))[0] == 0.0


def test_av_mismatch_and_pearson():
    assert av_mismatch_s(90, 30.0, 2.9) == pytest.approx(0.1)
    x = np.arange(10.0)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert np.isnan(pearson(x, np.ones(10)))


def test_mouth_opening_uses_points_13_and_14():
    demo = load("demo")
    v = np.repeat(demo.v_template[None].astype(np.float64), 2, 0)
    v[1, 14, 1] -= 0.01  # lower lip 1 cm down
    m = mouth_opening(v, demo)
    base = np.linalg.norm(demo.v_template[13] - demo.v_template[14])
    assert m[0] == pytest.approx(base, abs=1e-6)
    assert m[1] > m[0] + 0.009


def test_similarity_alignment_recovers_a_known_transform():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 50, 3))
    R = Rotation.from_rotvec([0.1, -0.2, 0.3]).as_matrix()
    b = 1.3 * a @ R.T + np.array([0.1, 0.2, -0.3])
    assert np.allclose(similarity_align(a, b), b, atol=1e-10)


def test_flags_name_the_metric_and_threshold():
    cfg = QAConfig()
    good = {"detection_rate": 1.0, "reprojection_iod": 0.01, "jitter_mm": 0.1, "av_mismatch_s": 0.02,
            "ground_truth": {"vertex_error_mm": {"face": 1.0}, "mouth_correlation": 0.97}}
    assert flags_for(good, cfg) == []
    bad = {"detection_rate": 0.5, "reprojection_iod": 0.05, "jitter_mm": 0.9, "av_mismatch_s": -0.3,
           "ground_truth": {"vertex_error_mm": {"face": 6.2}, "mouth_correlation": 0.5}}
    f = flags_for(bad, cfg)
    assert len(f) == 6
    assert f[0].startswith("detection rate 0.50") and "5.00% IOD" in f[1] and "-0.300 s" in f[3]
    assert "6.20 mm > 5.0 mm" in f[4] and "0.500" in f[5]
