"""The bundled demo head: topology, regions, expression locality and sizes, the npz format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoface.morphable import load, region, region_names, save_npz
from tools.demo_head.canonical_mesh import load_canonical_mesh
from emoface.morphable.landmarks import MEDIAPIPE_TO_IBUG68


def _pose(layer, demo, jaw=None, **expr):
    e = torch.zeros(1, demo.n_expr)
    for k, val in expr.items():
        e[0, demo.expression_index(k)] = val
    kw = {"expression": e}
    if jaw is not None:
        kw["jaw"] = torch.tensor([[jaw, 0.0, 0.0]])
    return layer(**kw).vertices[0].numpy()


def test_topology_and_metadata(demo):
    mesh = load_canonical_mesh()
    assert demo.n_vertices == 468 and demo.faces.shape == (898, 3)
    assert demo.kind == "demo" and "NOT FLAME" in demo.metadata["description"]
    # metres: the canonical mesh plus the shape-basis change that levels the midline lips
    from tools.demo_head.build import level_lips

    delta = level_lips(mesh.vertices * 0.01, demo.shapedirs)
    np.testing.assert_allclose(demo.v_template, mesh.vertices * 0.01 + demo.shapedirs @ delta, atol=1e-6)
    v = demo.v_template
    assert abs(v[13, 0] - v[14, 0]) < 1e-7 and abs(v[13, 2] - v[14, 2]) < 1e-7  # level in x and depth
    c = mesh.vertices * 0.01
    assert abs(c[13, 2] - c[14, 2]) > 0.001  # the canonical mesh: the upper lip 1.9 mm behind
    from emoface.morphable.landmarks import INNER_LIP_PAIRS

    for u, lo in INNER_LIP_PAIRS:  # every inner-lip gap as in the canonical mesh
        assert abs((v[u, 1] - v[lo, 1]) - (c[u, 1] - c[lo, 1])) < 1e-6
    assert np.linalg.norm(v - c, axis=1).max() < 0.002  # a small, smooth change
    assert demo.posedirs.shape == (468, 3, 36)
    assert demo.parents.tolist() == [-1, 0, 1, 1, 1]
    np.testing.assert_allclose(demo.lbs_weights.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(demo.J_regressor.sum(1), 1.0, atol=1e-6)
    assert demo.uv is not None and demo.uv.shape == (468, 2)
    assert len(set(demo.expression_names)) == demo.n_expr >= 15


def test_regions_are_nonempty_and_sensible(demo):
    for name in ("lips", "eye_region", "forehead", "face", "nose", "left_eye", "right_eye", "mouth", "cheeks"):
        assert len(region(demo, name)) > 0, name
    v = demo.v_template
    lips, fh = region(demo, "lips"), region(demo, "forehead")
    assert {13, 14, 61, 291, 0, 17} <= set(lips.tolist())
    assert v[fh, 1].min() > v[region(demo, "lips"), 1].max()
    assert set(region(demo, "eve").tolist()) == set(region(demo, "eye_region")) | set(fh.tolist())
    assert "eve" in region_names(demo)
    assert (v[region(demo, "left_eye"), 0] > 0).all() and (v[region(demo, "right_eye"), 0] < 0).all()
    with pytest.raises(KeyError, match="no region 'ears'"):
        region(demo, "ears")


def test_every_expression_moves_mainly_its_region(demo):
    for i, name in enumerate(demo.expression_names):
        d = np.linalg.norm(demo.exprdirs[:, :, i], axis=1)
        claimed = region(demo, demo.expression_regions[name])
        energy = (d**2)[claimed].sum() / (d**2).sum()
        assert energy > 0.8, f"{name}: only {energy:.2f} of its motion lies in {demo.expression_regions[name]}"
        assert 1.5e-3 < d.max() < 1.5e-2, f"{name}: largest displacement {d.max() * 1e3:.1f} mm"


def test_left_right_components_act_on_their_own_side(demo):
    x = demo.v_template[:, 0]
    for name, sign in (("smile_left", 1), ("smile_right", -1), ("eyelid_close_left", 1), ("eyelid_close_right", -1)):
        d = np.linalg.norm(demo.exprdirs[:, :, demo.expression_index(name)], axis=1) ** 2
        assert d[sign * x > 0].sum() > 0.9 * d.sum(), name


def test_motion_sizes_match_the_design(demo, layer):
    v0 = demo.v_template
    gap0 = np.linalg.norm(v0[13] - v0[14])
    vj = _pose(layer, demo, jaw=0.35)
    opening = np.linalg.norm(vj[13] - vj[14]) - gap0
    assert 0.02 < opening < 0.035, opening  # jaw 0.35 rad opens the mouth 2-3.5 cm
    assert np.abs(vj[region(demo, "forehead")] - v0[region(demo, "forehead")]).max() < 1e-7  # upper face stays (float32)
    vs = _pose(layer, demo, smile_left=1.0, smile_right=1.0)
    for corner, side in ((291, 1), (61, -1)):
        d = vs[corner] - v0[corner]
        assert 0.007 < np.linalg.norm(d) < 0.011 and d[1] > 0.005 and side * d[0] > 0.002
    vb = _pose(layer, demo, brow_raise=1.0)
    assert 0.007 < (vb[105, 1] - v0[105, 1]) < 0.01 and 0.007 < (vb[334, 1] - v0[334, 1]) < 0.01
    ve = _pose(layer, demo, eyelid_close_left=1.0, eyelid_close_right=1.0)
    for up, low in ((159, 145), (386, 374), (160, 144), (385, 380)):
        assert np.linalg.norm(v0[up] - v0[low]) > 0.004
        assert np.linalg.norm(ve[up] - ve[low]) < 0.0015, (up, low)  # the lids meet


def test_landmark_embeddings(demo, layer):
    out = layer(jaw=torch.tensor([[0.2, 0.0, 0.0]]), landmarks="ibug68")
    assert out.landmarks.shape == (1, 68, 3)
    np.testing.assert_allclose(out.landmarks[0].numpy(), out.vertices[0, torch.as_tensor(np.array(MEDIAPIPE_TO_IBUG68))].numpy(), atol=1e-7)
    mp = demo.landmark_embeddings["mediapipe"]
    assert len(mp) == 468 and (mp.source_index == np.arange(468)).all()
    np.testing.assert_allclose(mp.points(demo.v_template, demo.faces), demo.v_template, atol=1e-7)


def test_ibug68_map_is_a_valid_correspondence():
    m = MEDIAPIPE_TO_IBUG68
    assert m.shape == (68,) and len(set(m.tolist())) == 68 and m.max() < 468
    v = load_canonical_mesh().vertices
    assert v[m[8], 1] == v[:, 1].min()  # iBUG 9 (0-based 8) is the chin
    assert v[m[36], 0] < v[m[39], 0] < 0 < v[m[42], 0] < v[m[45], 0]  # eye corners, right to left
    assert v[m[48], 0] < 0 < v[m[54], 0]  # mouth corners
    np.testing.assert_allclose(v[m[:17], 0], -v[m[16::-1], 0], atol=1e-5)  # jaw line is symmetric


def test_npz_round_trip(tmp_path, demo):
    path = save_npz(demo, tmp_path / "copy.npz")
    back = load(path)
    assert back.name == demo.name and back.kind == "demo"
    for key in ("v_template", "faces", "shapedirs", "exprdirs", "posedirs", "J_regressor", "lbs_weights", "parents", "uv"):
        np.testing.assert_array_equal(getattr(back, key), getattr(demo, key), err_msg=key)
    assert back.expression_names == demo.expression_names
    assert back.expression_regions == demo.expression_regions
    assert back.metadata == demo.metadata
    assert sorted(back.regions) == sorted(demo.regions)
    for k in demo.regions:
        np.testing.assert_array_equal(back.regions[k], demo.regions[k])
    for k in demo.face_groups:
        np.testing.assert_array_equal(back.face_groups[k], demo.face_groups[k])
    for k, e in demo.landmark_embeddings.items():
        np.testing.assert_array_equal(back.landmark_embeddings[k].bary, e.bary)
    assert save_npz(back, tmp_path / "again.npz").read_bytes() == path.read_bytes()  # deterministic bytes


def test_bundled_asset_matches_the_builder(demo):
    """The committed npz is what the builder makes (no stale asset; equal up to float round-off)."""
    from tools.demo_head.build import build_demo_head

    fresh = build_demo_head()
    for key in ("v_template", "shapedirs", "exprdirs", "J_regressor", "lbs_weights"):
        np.testing.assert_allclose(getattr(fresh, key), getattr(demo, key), atol=1e-6, err_msg=key)
    np.testing.assert_array_equal(fresh.faces, demo.faces)
    assert fresh.expression_names == demo.expression_names and fresh.metadata == demo.metadata
    assert {k: v.tolist() for k, v in fresh.regions.items()} == {k: v.tolist() for k, v in demo.regions.items()}
