"""Batched LBS: identities, locality of the jaw, batching, gradients, and a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from emoface.morphable import MorphableLayer
from emoface.morphable.model import from_flame_dict


def _reference_lbs(m, shape, expr, pose, trans):
    """Straightforward per-vertex numpy LBS (SMPL/FLAME definition), float64."""
    v = m.v_template.astype(np.float64) + m.shapedirs @ shape + m.exprdirs @ expr
    J = m.J_regressor.astype(np.float64) @ v
    R = Rotation.from_rotvec(pose).as_matrix()  # (5,3,3)
    feat = np.concatenate([(R[j] - np.eye(3)).ravel() for j in range(1, 5)])
    v = v + m.posedirs @ feat
    G = []
    for j in range(5):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[m.parents[j]] if j else 0)
        G.append(local if j == 0 else G[m.parents[j]] @ local)
    G = np.stack(G)
    posed_joints = G[:, :3, 3] + trans
    A = G.copy()
    A[:, :3, 3] -= np.einsum("jrc,jc->jr", G[:, :3, :3], J)
    T = np.einsum("vj,jrc->vrc", m.lbs_weights, A)
    out = np.einsum("vrc,vc->vr", T[:, :3, :3], v) + T[:, :3, 3]
    return out + trans, posed_joints


def test_matches_numpy_reference_with_pose_correctives(flame_arrays):
    m = from_flame_dict(flame_arrays, name="tiny")
    rng = np.random.default_rng(1)
    layer = MorphableLayer(m)
    shape, expr = rng.normal(size=(3, m.n_shape)), rng.normal(size=(3, m.n_expr))
    pose = rng.normal(scale=0.3, size=(3, 5, 3))
    trans = rng.normal(scale=0.1, size=(3, 3))
    t = lambda a: torch.tensor(a, dtype=torch.float32)
    out = layer(shape=t(shape), expression=t(expr), global_rot=t(pose[:, 0]), neck=t(pose[:, 1]), jaw=t(pose[:, 2]),
                eyes=t(pose[:, 3:].reshape(3, 6)), translation=t(trans), landmarks=None)  # fmt: skip
    for b in range(3):
        ref_v, ref_j = _reference_lbs(m, shape[b], expr[b], pose[b], trans[b])
        np.testing.assert_allclose(out.vertices[b].numpy(), ref_v, atol=2e-5)
        np.testing.assert_allclose(out.joints[b].numpy(), ref_j, atol=2e-5)


def test_zero_parameters_give_the_template(demo, layer):
    out = layer(shape=torch.zeros(2, demo.n_shape))
    assert out.vertices.shape == (2, demo.n_vertices, 3)
    np.testing.assert_allclose(out.vertices[1].numpy(), demo.v_template, atol=1e-7)
    np.testing.assert_allclose(out.joints[0].numpy(), demo.J_regressor @ demo.v_template, atol=1e-6)
    out = layer()  # everything left out: batch of one
    np.testing.assert_allclose(out.vertices[0].numpy(), demo.v_template, atol=1e-7)
    np.testing.assert_allclose(out.landmarks[0].numpy(), demo.v_template[:468], atol=1e-7)


def test_jaw_moves_only_jaw_weighted_vertices(demo, layer):
    out = layer(jaw=torch.tensor([[0.3, 0.05, 0.0]]))
    moved = np.linalg.norm(out.vertices[0].numpy() - demo.v_template, axis=1) > 1e-7
    has_jaw = demo.lbs_weights[:, 2] > 0
    assert moved.any()
    np.testing.assert_array_equal(moved, has_jaw)
    # the eyes drive nothing on the demo head; the neck moves everything but the joints below it
    out = layer(eyes=torch.full((1, 6), 0.3))
    np.testing.assert_allclose(out.vertices[0].numpy(), demo.v_template, atol=1e-7)


def test_batched_equals_per_frame(demo, layer):
    g = torch.Generator().manual_seed(0)
    B = 4
    kw = dict(
        shape=torch.randn(B, demo.n_shape, generator=g),
        expression=torch.rand(B, demo.n_expr, generator=g),
        global_rot=0.2 * torch.randn(B, 3, generator=g),
        neck=0.1 * torch.randn(B, 3, generator=g),
        jaw=0.2 * torch.rand(B, 3, generator=g),
        eyes=0.1 * torch.randn(B, 6, generator=g),
        translation=0.05 * torch.randn(B, 3, generator=g),
    )
    full = layer(**kw)
    for b in range(B):
        one = layer(**{k: v[b : b + 1] for k, v in kw.items()})
        torch.testing.assert_close(one.vertices[0], full.vertices[b], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(one.landmarks[0], full.landmarks[b], atol=1e-6, rtol=1e-5)


def test_gradients_reach_every_parameter(flame_arrays):
    m = from_flame_dict(flame_arrays, name="tiny")  # every joint drives vertices here
    layer = MorphableLayer(m)
    params = {
        "shape": torch.zeros(2, 10),
        "expression": torch.zeros(2, 10),
        "global_rot": torch.full((2, 3), 0.1),
        "neck": torch.full((2, 3), 0.1),
        "jaw": torch.full((2, 3), 0.1),
        "eyes": torch.full((2, 6), 0.1),
        "translation": torch.zeros(2, 3),
    }
    for p in params.values():
        p.requires_grad_(True)
    out = layer(**params, landmarks=None)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gradients_are_finite_at_zero_pose(demo, layer):
    jaw = torch.zeros(1, 3, requires_grad=True)
    expr = torch.zeros(1, demo.n_expr, requires_grad=True)
    out = layer(jaw=jaw, expression=expr)
    out.landmarks[:, 14, 1].sum().backward()
    assert torch.isfinite(jaw.grad).all() and jaw.grad.abs().sum() > 0
    assert expr.grad.abs().sum() > 0


def test_argument_errors(demo, layer):
    with pytest.raises(ValueError, match="jaw"):
        layer(jaw=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="expression"):
        layer(expression=torch.zeros(1, demo.n_expr + 1))
    with pytest.raises(KeyError, match="no landmark embedding 'nope'"):
        layer(landmarks="nope")
    short = layer(expression=torch.ones(1, 2))  # shorter vectors are zero-padded
    assert short.vertices.shape == (1, demo.n_vertices, 3)
