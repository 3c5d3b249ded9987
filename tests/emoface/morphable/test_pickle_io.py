"""Restricted unpickling of FLAME-family files: chumpy without chumpy, and nothing else."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from emoface.morphable import UnsafePickleError, load
from emoface.morphable.landmarks import load_deca_embedding, load_mediapipe_embedding
from emoface.morphable.pickle_io import load_object_npy, load_pickle, to_numpy
from emoface.morphable.regions import load_flame_masks


def _fake_chumpy(monkeypatch):
    """Install a minimal fake ``chumpy`` (Ch, reordering.transpose) so the test can *write* chumpy pickles."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    reordering = types.ModuleType("chumpy.reordering")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)
            self._dirty_vars = {"x"}
            self._itr = None

        def __getstate__(self):
            return dict(self.__dict__)

    class transpose:
        def __init__(self, a, axes):
            self.a, self.axes = a, axes
            self._dirty_vars = set()

        def __getstate__(self):
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    transpose.__module__, transpose.__qualname__ = "chumpy.reordering", "transpose"
    ch.Ch, reordering.transpose = Ch, transpose
    chumpy.ch, chumpy.reordering = ch, reordering
    for name, mod in (("chumpy", chumpy), ("chumpy.ch", ch), ("chumpy.reordering", reordering)):
        monkeypatch.setitem(sys.modules, name, mod)
    return Ch, transpose


@pytest.mark.parametrize("protocol", [0, 2])  # 0: objects via copy_reg._reconstructor, as old pickles do
def test_chumpy_flame_pickle_loads_without_chumpy(tmp_path, monkeypatch, flame_arrays, protocol):
    Ch, transpose = _fake_chumpy(monkeypatch)
    data = dict(flame_arrays)
    data["v_template"] = Ch(flame_arrays["v_template"])
    data["shapedirs"] = Ch(flame_arrays["shapedirs"])
    # posedirs stored transposed behind a chumpy reordering op, as chumpy expressions can be
    data["posedirs"] = transpose(Ch(np.transpose(flame_arrays["posedirs"], (2, 1, 0))), (2, 1, 0))
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    for name in ("chumpy", "chumpy.ch", "chumpy.reordering"):
        monkeypatch.delitem(sys.modules, name)
    assert "chumpy" not in sys.modules

    model = load(path)
    assert "chumpy" not in sys.modules
    np.testing.assert_allclose(model.v_template, flame_arrays["v_template"].astype(np.float32))
    np.testing.assert_allclose(model.shapedirs, flame_arrays["shapedirs"][..., :300].astype(np.float32))
    np.testing.assert_allclose(model.exprdirs, flame_arrays["shapedirs"][..., 300:].astype(np.float32))
    np.testing.assert_allclose(model.posedirs, flame_arrays["posedirs"].astype(np.float32))
    np.testing.assert_allclose(model.J_regressor, flame_arrays["J_regressor"].toarray().astype(np.float32))
    np.testing.assert_array_equal(model.faces, flame_arrays["f"].astype(np.int32))
    assert model.parents.tolist() == [-1, 0, 1, 1, 1]
    assert model.kind == "flame" and model.expression_names[0] == "expr_000" and model.n_expr == 100


def test_other_shapedirs_counts_are_split_as_asked(tmp_path, make_flame):
    arrays = make_flame(n_shape=100, n_expr=50)
    path = tmp_path / "flame_small.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    m = load(path, n_expr=50)
    assert (m.n_shape, m.n_expr) == (100, 50)
    m = load(path)  # default: the last 100 are expressions
    assert (m.n_shape, m.n_expr) == (50, 100)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_pickle_naming_os_system_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil(marker)}, protocol=2))
    with pytest.raises(UnsafePickleError) as err:
        load(path)
    msg = str(err.value)
    assert str(path) in msg and ("posix.system" in msg or "os.system" in msg or "nt.system" in msg)
    assert not marker.exists()


@pytest.mark.parametrize("global_name", [("builtins", "eval"), ("subprocess", "call"), ("torch._utils", "_rebuild_tensor_v2")])
def test_other_globals_are_refused(tmp_path, global_name):
    module, name = global_name
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
    path = tmp_path / "x.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        load_pickle(path)  # torch functions only with allow_torch=True


def test_flame_masks_and_extras_are_picked_up(tmp_path, flame_arrays):
    (tmp_path / "generic_model.pkl").write_bytes(pickle.dumps(flame_arrays, protocol=2))
    masks = {"lips": np.array([1, 2, 3]), "eye_region": np.array([4, 5]), "forehead": np.array([6]), "face": np.arange(20)}
    (tmp_path / "FLAME_masks.pkl").write_bytes(pickle.dumps(masks, protocol=2))
    deca = {
        "static_lmk_faces_idx": np.arange(51),
        "static_lmk_bary_coords": np.full((51, 3), 1 / 3),
        "full_lmk_faces_idx": np.arange(68)[None],
        "full_lmk_bary_coords": np.full((1, 68, 3), 1 / 3),
        "dynamic_lmk_faces_idx": torch.arange(79 * 17).reshape(79, 17) % 60,
        "dynamic_lmk_bary_coords": torch.full((79, 17, 3), 1 / 3),
    }
    np.save(tmp_path / "landmark_embedding.npy", np.array(deca, dtype=object), allow_pickle=True)
    np.savez(tmp_path / "mediapipe_landmark_embedding.npz", lmk_face_idx=np.arange(5), lmk_b_coords=np.full((5, 3), 1 / 3),
             landmark_indices=np.array([1, 33, 61, 263, 291]))  # fmt: skip
    m = load(tmp_path / "generic_model.pkl")
    assert m.regions["lips"].tolist() == [1, 2, 3]
    assert len(m.landmark_embeddings["ibug68"]) == 68
    assert m.landmark_embeddings["ibug51"].source_index.tolist() == list(range(17, 68))
    assert m.landmark_embeddings["mediapipe"].source_index.tolist() == [1, 33, 61, 263, 291]
    np.testing.assert_array_equal(m.extras["dynamic_lmk_faces_idx"], deca["dynamic_lmk_faces_idx"].numpy())
    from emoface.morphable import region

    assert set(region(m, "eve").tolist()) == {4, 5, 6}


def test_deca_npy_with_plain_arrays_and_mediapipe_npz_errors(tmp_path):
    deca = {"full_lmk_faces_idx": np.arange(68)[None], "full_lmk_bary_coords": np.full((1, 68, 3), 1 / 3)}
    np.save(tmp_path / "emb.npy", np.array(deca, dtype=object), allow_pickle=True)
    embs, dynamic = load_deca_embedding(tmp_path / "emb.npy")
    assert set(embs) == {"ibug68"} and dynamic == {}
    np.savez(tmp_path / "bad.npz", lmk_face_idx=np.arange(3))
    with pytest.raises(ValueError, match="bad.npz.*missing key"):
        load_mediapipe_embedding(tmp_path / "bad.npz")
    np.save(tmp_path / "plain.npy", np.arange(4))
    assert load_object_npy(tmp_path / "plain.npy").tolist() == [0, 1, 2, 3]


def test_masks_out_of_range_and_truncated_pickle(tmp_path):
    (tmp_path / "m.pkl").write_bytes(pickle.dumps({"lips": np.array([0, 99])}))
    with pytest.raises(ValueError, match="lips"):
        load_flame_masks(tmp_path / "m.pkl", n_vertices=50)
    blob = pickle.dumps({"a": np.arange(100)}, protocol=2)
    (tmp_path / "t.pkl").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="t.pkl"):
        load_pickle(tmp_path / "t.pkl")


def test_unknown_chumpy_op_is_a_clear_error():
    from emoface.morphable.pickle_io import _chumpy_class

    obj = _chumpy_class("chumpy.ch_ops", "arctan2")()
    obj.__setstate__({"x1": 1})
    with pytest.raises(ValueError, match="chumpy.ch_ops.arctan2"):
        to_numpy(obj)
