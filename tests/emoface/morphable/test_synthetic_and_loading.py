"""The 5023-vertex synthetic model, mesh refinement, and load() by name/path/env."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from emoface.morphable import FlameNotFoundError, MorphableLayer, load, region
from tools.testing.synthetic import refine_to, synthetic_model


def test_synthetic_5023_loads_and_runs_lbs():
    m = synthetic_model()
    assert m.n_vertices == 5023 and m.kind == "synthetic"
    assert (m.n_shape, m.n_expr) == (300, 100) and m.posedirs.shape == (5023, 3, 36)
    assert m.faces.max() == 5022 and len(np.unique(m.faces)) == 5023
    for name in ("lips", "eye_region", "forehead", "face"):
        assert len(region(m, name)) > 0
    layer = MorphableLayer(m)
    B = 3
    out = layer(shape=torch.randn(B, 300), expression=torch.rand(B, 100), jaw=torch.full((B, 3), 0.1),
                global_rot=torch.full((B, 3), 0.05))  # fmt: skip
    assert out.vertices.shape == (B, 5023, 3) and torch.isfinite(out.vertices).all()
    assert out.landmarks.shape == (B, 468, 3)
    zero = layer(shape=torch.zeros(1, 300))
    np.testing.assert_allclose(zero.vertices[0].numpy(), m.v_template, atol=1e-7)
    # the first vertices are the demo head's, with its weights
    demo = load("demo")
    np.testing.assert_allclose(m.v_template[:468], demo.v_template, atol=1e-7)
    np.testing.assert_allclose(m.lbs_weights[:468], demo.lbs_weights, atol=1e-6)


def test_refine_to_exact_count_keeps_the_surface():
    demo = load("demo")
    v, f, P, origin = refine_to(demo.v_template.astype(np.float64), demo.faces, 2500)
    assert len(v) == 2500 and P.shape == (2500, 468)
    np.testing.assert_allclose(P @ demo.v_template, v, atol=1e-7)
    np.testing.assert_allclose(np.asarray(P.sum(1)).ravel(), 1.0)
    area = lambda vv, ff: 0.5 * np.linalg.norm(np.cross(vv[ff[:, 1]] - vv[ff[:, 0]], vv[ff[:, 2]] - vv[ff[:, 0]]), axis=1)
    np.testing.assert_allclose(area(v, f).sum(), area(demo.v_template, demo.faces).sum(), rtol=1e-6)
    assert (area(v, f) > 0).all() and origin.max() < len(demo.faces)
    with pytest.raises(ValueError, match="cannot refine"):
        refine_to(demo.v_template, demo.faces, 1000)


def test_missing_flame_file_error_names_the_file(tmp_path, monkeypatch):
    missing = tmp_path / "generic_model.pkl"
    with pytest.raises(FlameNotFoundError) as err:
        load(missing)
    assert str(missing) in str(err.value) and "flame.is.tue.mpg.de" in str(err.value)
    monkeypatch.delenv("EMOFACE_FLAME_DIR", raising=False)
    with pytest.raises(FlameNotFoundError, match="EMOFACE_FLAME_DIR"):
        load("flame")
    monkeypatch.setenv("EMOFACE_FLAME_DIR", str(tmp_path))
    with pytest.raises(FlameNotFoundError, match=str(missing)):
        load("flame")


def test_flame_by_env_dir_and_npz_export(tmp_path, monkeypatch, flame_arrays):
    (tmp_path / "flame2023.pkl").write_bytes(pickle.dumps(flame_arrays, protocol=2))
    monkeypatch.setenv("EMOFACE_FLAME_DIR", str(tmp_path))
    m = load("flame")
    assert m.name == "flame2023" and m.n_shape == 300
    export = dict(flame_arrays)
    export["J_regressor"] = flame_arrays["J_regressor"].toarray()
    np.savez(tmp_path / "flame_export.npz", **{k: v for k, v in export.items() if isinstance(v, np.ndarray)})
    e = load(tmp_path / "flame_export.npz")
    np.testing.assert_allclose(e.exprdirs, m.exprdirs)
    np.testing.assert_allclose(e.J_regressor, m.J_regressor)


def test_unknown_names_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="names: 'demo'"):
        load("no-such-model")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="x.npz"):
        load(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", v_template=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="missing key 'shapedirs'"):
        load(tmp_path / "y.npz")
