"""Shared fixtures for the morphable-model tests: a small random FLAME-format model, the demo head and its layer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from emoface.morphable import MorphableLayer, load


def make_flame_arrays(n_vertices: int = 40, n_shape: int = 300, n_expr: int = 100, seed: int = 0) -> dict:
    """FLAME-keyed arrays of a small random model (5 joints, FLAME kintree, uint32 faces)."""
    rng = np.random.default_rng(seed)
    V = n_vertices
    v = rng.normal(scale=0.05, size=(V, 3))
    faces = np.stack([rng.permutation(V)[:3] for _ in range(2 * V)]).astype(np.uint32)
    weights = rng.random((V, 5)) ** 3
    weights /= weights.sum(1, keepdims=True)
    jreg = np.zeros((5, V))
    for j in range(5):
        idx = rng.choice(V, 4, replace=False)
        jreg[j, idx] = 0.25
    kintree = np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32)
    return {
        "v_template": v,
        "f": faces,
        "shapedirs": rng.normal(scale=1e-3, size=(V, 3, n_shape + n_expr)),
        "posedirs": rng.normal(scale=1e-3, size=(V, 3, 36)),
        "J_regressor": sp.csc_matrix(jreg),
        "weights": weights,
        "kintree_table": kintree,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


@pytest.fixture
def flame_arrays() -> dict:
    return make_flame_arrays()


@pytest.fixture
def make_flame():
    """The factory itself, for tests that need other sizes."""
    return make_flame_arrays


@pytest.fixture(scope="module")
def demo():
    return load("demo")


@pytest.fixture(scope="module")
def layer(demo):
    return MorphableLayer(demo)
