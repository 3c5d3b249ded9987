"""A small FLAME-format model on the MediaPipe canonical mesh for fitting tests.

Smooth random shape and expression bases, a jaw joint with soft skinning weights and
random pose correctives: enough structure to exercise every term of the landmark model.
"""

from __future__ import annotations

import numpy as np

from emoface.morphable import MorphableModel
from tools.demo_head.canonical_mesh import load_canonical_mesh
from emoface.morphable.landmarks import identity_embedding


def toy_model(n_shape: int = 12, n_expr: int = 10, posedirs: bool = True, seed: int = 0) -> MorphableModel:
    rng = np.random.default_rng(seed)
    mesh = load_canonical_mesh()
    v = mesh.vertices.astype(np.float64) / 100.0
    V = len(v)
    centred = (v - v.mean(0)) / 0.08

    def smooth_fields(k: int, scale: float) -> np.ndarray:
        freq = rng.normal(size=(k, 3, 3)) * 1.2
        phase = rng.uniform(0, 2 * np.pi, size=(k, 3))
        f = np.sin(np.einsum("vd,kcd->vck", centred, freq) + phase.T[None])
        return (f * scale).astype(np.float32)

    shapedirs = smooth_fields(n_shape, 0.003)
    exprdirs = smooth_fields(n_expr, 0.002)
    y_mouth = v[13, 1]
    wj = 1.0 / (1.0 + np.exp((v[:, 1] - (y_mouth - 0.005)) / 0.004))
    weights = np.zeros((V, 5), np.float32)
    weights[:, 2] = wj
    weights[:, 1] = 1.0 - wj
    J = np.zeros((5, V), np.float32)
    back = np.argsort(v[:, 2])[:10]
    J[0, back] = 0.1
    J[1, back] = 0.1
    ear = np.argsort(np.abs(v[:, 1] - (y_mouth + 0.01)) + 0.5 * v[:, 2])[:6]
    J[2, ear] = 1.0 / 6
    J[3, 33] = J[4, 263] = 1.0
    pd = (rng.normal(size=(V, 3, 36)) * 0.0005 * wj[:, None, None]).astype(np.float32) if posedirs else np.zeros((V, 3, 36), np.float32)
    return MorphableModel(
        name="toy", kind="demo", v_template=v.astype(np.float32), faces=mesh.faces, shapedirs=shapedirs,
        exprdirs=exprdirs, posedirs=pd, J_regressor=J, lbs_weights=weights, parents=np.array([-1, 0, 1, 1, 1]),
        landmark_embeddings={"mediapipe": identity_embedding(mesh.faces, V)},
        regions={"lips": np.arange(0, 0), "face": np.arange(V)},
    )
