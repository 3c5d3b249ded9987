"""The landmark-level model agrees with the full LBS layer, and its Jacobians with autograd."""

import numpy as np
import pytest
import torch

from emoface.mesh.camera import PinholeCamera, project, transform_points
from emoface.morphable import MorphableLayer, load
from pipeline.fitting.landmark_groups import MP_EYES, MP_LIPS, MP_OVAL, detector_indices
from pipeline.fitting.landmark_model import LandmarkModel, choose_embedding, right_jacobian
from toy_model import toy_model

CAM = PinholeCamera(1000.0, 1000.0, 640.0, 360.0, 1280, 720)


def _params(n: int, s: int, e: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    return (torch.randn(s, generator=g, dtype=d), torch.randn(n, e, generator=g, dtype=d),
            torch.randn(n, 3, generator=g, dtype=d) * 0.2, torch.randn(n, 3, generator=g, dtype=d) * 0.3,
            torch.tensor([[0.01, -0.02, -0.6]], dtype=d).repeat(n, 1))


@pytest.mark.parametrize("name,embedding", [("toy", "mediapipe"), ("demo", "mediapipe"), ("demo", "ibug68")])
def test_forward_matches_lbs_layer(name, embedding):
    model = toy_model() if name == "toy" else load("demo")
    lm = LandmarkModel(model, embedding, model.n_shape, model.n_expr)
    beta, psi, jaw, rot, tr = _params(3, model.n_shape, model.n_expr)
    ev = lm.evaluate(beta, psi, jaw, rot, tr, CAM.fx, CAM.fy, CAM.cx, CAM.cy)
    layer = MorphableLayer(model, dtype=torch.float64)
    out = layer(shape=beta[None].repeat(3, 1), expression=psi, jaw=jaw, landmarks=embedding)
    uv = project(transform_points(out.landmarks, rot, tr), CAM)
    assert torch.allclose(ev.uv, uv, atol=1e-3)  # model arrays are float32
    assert ev.uv.abs().max() > 100  # not trivially zero


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func forward mode uses torch.jit internally
def test_jacobians_match_autograd():
    model = toy_model(posedirs=True)  # pose correctives exercise every Jacobian term
    lm = LandmarkModel(model, "mediapipe", model.n_shape, model.n_expr)
    beta, psi, jaw, rot, tr = _params(2, model.n_shape, model.n_expr, seed=3)
    E = model.n_expr
    ev = lm.evaluate(beta, psi, jaw, rot, tr, 1000.0, 990.0, 640.0, 360.0, jacobian=True, shape_jacobian=True)

    def f(x):
        return lm.evaluate(beta, x[:, :E], x[:, E:E + 3], x[:, E + 3:E + 6], x[:, E + 6:], 1000.0, 990.0, 640.0, 360.0).uv

    x = torch.cat([psi, jaw, rot, tr], 1)
    full = torch.autograd.functional.jacobian(f, x, vectorize=True, strategy="forward-mode")  # (N,L,2,N,K)
    per_frame = torch.stack([full[i, :, :, i] for i in range(len(x))])  # (N, L, 2, K)
    assert torch.allclose(per_frame.permute(0, 2, 3, 1), ev.jac, rtol=1e-7, atol=1e-7)  # axis-major (N, 2, K, L)
    js = torch.autograd.functional.jacobian(
        lambda b: lm.evaluate(b, psi, jaw, rot, tr, 1000.0, 990.0, 640.0, 360.0).uv, beta, vectorize=True,
        strategy="forward-mode")
    assert torch.allclose(js.permute(0, 2, 3, 1), ev.jac_shape, atol=1e-8)
    jf = torch.autograd.functional.jacobian(
        lambda lf: lm.evaluate(beta, psi, jaw, rot, tr, torch.exp(lf), torch.exp(lf) * 0.99, 640.0, 360.0).uv,
        torch.tensor(np.log(1000.0), dtype=torch.float64), vectorize=True, strategy="forward-mode")
    assert torch.allclose(jf.transpose(1, 2), ev.jac_logf, atol=1e-6)


def test_right_jacobian_small_and_large_angles():
    from emoface.mesh.camera import axis_angle_to_matrix

    for aa in (torch.tensor([1e-5, -2e-5, 3e-6], dtype=torch.float64), torch.tensor([0.4, -1.1, 0.7], dtype=torch.float64)):
        d = torch.tensor([1e-6, 2e-6, -1e-6], dtype=torch.float64)
        lhs = axis_angle_to_matrix(aa + d)
        rhs = axis_angle_to_matrix(aa) @ axis_angle_to_matrix(right_jacobian(aa) @ d)
        assert torch.allclose(lhs, rhs, atol=1e-11)


def test_embedding_choice_and_detector_indices():
    demo = load("demo")
    assert choose_embedding(demo, "auto") == "mediapipe"
    assert choose_embedding(demo, "ibug68") == "ibug68"
    with pytest.raises(ValueError, match="no landmark embedding"):
        choose_embedding(demo, "nope")
    ib = detector_indices("ibug68", np.arange(68))
    assert ib[36] == 33 and ib[45] == 263  # outer eye corners
    assert np.array_equal(detector_indices("mediapipe", np.arange(468)), np.arange(468))


def test_landmark_groups_match_mediapipe():
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    def idx(*names):
        s = set()
        for n in names:
            for c in getattr(C, n):
                s |= {c.start, c.end}
        return sorted(s)

    assert sorted(MP_LIPS) == idx("FACE_LANDMARKS_LIPS")
    assert sorted(MP_EYES) == idx("FACE_LANDMARKS_LEFT_EYE", "FACE_LANDMARKS_RIGHT_EYE")
    assert sorted(MP_OVAL) == idx("FACE_LANDMARKS_FACE_OVAL")


def test_dense_embedding_is_thinned_keeping_every_feature_point():
    from pipeline.fitting.landmark_groups import MP_BROWS, select_landmarks

    demo = load("demo")
    emb = demo.landmark_embeddings["mediapipe"]
    pts = emb.points(demo.v_template, demo.faces)
    rows = select_landmarks(emb.source_index, pts, 200)
    assert len(rows) == 200 and len(np.unique(rows)) == 200
    for group in (MP_LIPS, MP_EYES, MP_BROWS, MP_OVAL):
        assert np.isin(group, emb.source_index[rows]).all()
    assert np.array_equal(rows, select_landmarks(emb.source_index, pts, 200))
    assert len(select_landmarks(emb.source_index, pts, 0)) == 468
    lm = LandmarkModel(demo, "mediapipe", 30, 20, max_landmarks=200)
    assert lm.n_landmarks == 200 and np.array_equal(lm.mp_index, emb.source_index[rows])
