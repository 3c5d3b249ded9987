"""A FLAME-sized synthetic model (exactly 5023 vertices, 300 shape + 100 expression components).

For tests and benchmarks of the 5023-vertex path when the user has no FLAME files. It is
neither FLAME nor a face model anyone should fit to data: the demo head's mesh is refined
(one midpoint subdivision, then splitting the longest edge until there are 5023 vertices), so
that it stays a real face surface, and everything is carried over through the refinement's
interpolation matrix ``P (5023, 468)``:

- template, skinning weights, regions (a new vertex belongs to a region when both parents
  do), the identity MediaPipe embedding (vertices 0..467 are the original vertices),
  the mouth/eye closing triangles, the joint regressor (on the original vertices);
- bases: the demo head's 30 shape / 20 expression components first, then random smooth
  fields (random combinations of the mesh's low-frequency Laplacian eigenvectors, decaying
  amplitude), seed fixed; random small pose correctives.

``synthetic_model()`` builds it in about a second and caches it per process.
"""

from __future__ import annotations

import heapq
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from tools.demo_head._geometry import cotan_laplacian
from emoface.morphable.landmarks import identity_embedding
from emoface.morphable.model import MorphableModel, load

__all__ = ["refine_to", "synthetic_model", "N_VERTICES"]

N_VERTICES = 5023
N_SHAPE, N_EXPR = 300, 100
SEED = 5023


def _midpoint_subdivide(faces: np.ndarray, n: int) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """One 1-to-4 midpoint subdivision: new faces, parents of each new vertex, parent face of each new face."""
    edge_id: dict[tuple[int, int], int] = {}
    parents: list[tuple[int, int]] = []

    def mid(a: int, b: int) -> int:
        key = (a, b) if a < b else (b, a)
        if key not in edge_id:
            edge_id[key] = n + len(parents)
            parents.append(key)
        return edge_id[key]

    out, origin = [], []
    for fi, (a, b, c) in enumerate(faces.tolist()):
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        out += [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
        origin += [fi] * 4
    return np.asarray(out, dtype=np.int64), parents, np.asarray(origin, dtype=np.int64)


def _split_longest(verts: list[np.ndarray], faces: list[list[int]], origin: list[int], parents: list[tuple[int, int]], target: int) -> None:
    """Split the currently longest edge (ties: smallest vertex ids) until ``len(verts) == target``."""
    edge_faces: dict[tuple[int, int], set[int]] = {}

    def key(a: int, b: int) -> tuple[int, int]:
        return (a, b) if a < b else (b, a)

    def length(e: tuple[int, int]) -> float:
        return float(np.linalg.norm(verts[e[0]] - verts[e[1]]))

    for fi, f in enumerate(faces):
        for k in range(3):
            edge_faces.setdefault(key(f[k], f[(k + 1) % 3]), set()).add(fi)
    heap = [(-length(e), e) for e in edge_faces]
    heapq.heapify(heap)
    while len(verts) < target:
        negl, e = heapq.heappop(heap)
        if e not in edge_faces or abs(-negl - length(e)) > 1e-12:
            continue
        a, b = e
        m = len(verts)
        verts.append(0.5 * (verts[a] + verts[b]))
        parents.append(e)
        new_edges = []
        for fi in sorted(edge_faces.pop(e)):
            f = faces[fi]
            k = next(k for k in range(3) if {f[k], f[(k + 1) % 3]} == {a, b})
            p, q, c = f[k], f[(k + 1) % 3], f[(k + 2) % 3]  # edge p->q in the face's order
            faces[fi] = [p, m, c]
            faces.append([m, q, c])
            origin.append(origin[fi])
            nf = len(faces) - 1
            edge_faces[key(q, c)].discard(fi)
            edge_faces[key(q, c)].add(nf)
            for ne, fs in ((key(p, m), {fi}), (key(m, q), {nf}), (key(m, c), {fi, nf})):
                edge_faces.setdefault(ne, set()).update(fs)
                new_edges.append(ne)
        for ne in set(new_edges):
            heapq.heappush(heap, (-length(ne), ne))


def refine_to(vertices: np.ndarray, faces: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, np.ndarray]:
    """Refine a mesh to exactly ``target`` vertices.

    Returns new vertices, faces, the interpolation matrix ``P (target, V)`` (original
    vertices first, each new vertex the mean of its two parents) and the original face each
    new face lies in.
    """
    n0 = len(vertices)
    f1, parents, origin = _midpoint_subdivide(np.asarray(faces), n0)
    if n0 + len(parents) > target:
        raise ValueError(f"cannot refine {n0} vertices to {target}: one subdivision already gives {n0 + len(parents)}")
    verts = [np.asarray(v, dtype=np.float64) for v in vertices]
    for a, b in parents:
        verts.append(0.5 * (verts[a] + verts[b]))
    face_list = f1.tolist()
    origin_list = origin.tolist()
    _split_longest(verts, face_list, origin_list, parents, target)
    acc = np.zeros((target, n0))
    acc[np.arange(n0), np.arange(n0)] = 1.0
    for i, (a, b) in enumerate(parents):  # parents always precede their children
        acc[n0 + i] = 0.5 * (acc[a] + acc[b])
    P = sp.csr_matrix(acc)
    return np.asarray(verts), np.asarray(face_list, dtype=np.int64), P, np.asarray(origin_list, dtype=np.int64)


def _low_frequencies(v: np.ndarray, f: np.ndarray, k_eig: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k_eig`` lowest eigenpairs of the cotangent Laplacian (generalised, lumped mass)."""
    L, area = cotan_laplacian(v, f)
    s = 1.0 / np.sqrt(area)
    w, Y = np.linalg.eigh(s[:, None] * L.toarray() * s[None, :])  # symmetric form of L u = w M u
    Y = Y[:, :k_eig] * np.sign(Y[np.abs(Y[:, :k_eig]).argmax(0), np.arange(k_eig)])  # fixed signs across LAPACKs
    return w[:k_eig], s[:, None] * Y


def _smooth_fields(eig: tuple[np.ndarray, np.ndarray], n: int, k_eig: int, rng: np.random.Generator, decay: float) -> np.ndarray:
    """``n`` random smooth displacement fields ``(V, 3, n)`` from the ``k_eig`` lowest modes;
    largest displacement ``decay**k`` for field k."""
    w, U = eig[0][:k_eig], eig[1][:, :k_eig]
    amp = 1.0 / np.sqrt(1.0 + w / max(w[1], 1e-9))  # lower frequencies dominate
    out = np.empty((U.shape[0], 3, n))
    for k in range(n):
        d = U @ (rng.normal(size=(k_eig, 3)) * amp[:, None])
        out[:, :, k] = d / np.linalg.norm(d, axis=1).max() * decay**k
    return out


@lru_cache(maxsize=1)
def _build() -> MorphableModel:
    demo = load("demo")
    v5, f5, P, origin = refine_to(demo.v_template.astype(np.float64), demo.faces, N_VERTICES)
    rng = np.random.default_rng(SEED)
    S0, E0 = demo.n_shape, demo.n_expr

    def carry(a: np.ndarray) -> np.ndarray:
        flat = a.reshape(a.shape[0], -1)
        return np.asarray(P @ flat).reshape((P.shape[0],) + a.shape[1:])

    eig = _low_frequencies(demo.v_template.astype(np.float64), demo.faces, 40)
    rand = _smooth_fields(eig, N_SHAPE + N_EXPR - S0 - E0, 40, rng, 0.985)
    rand = carry(rand)
    shapedirs = np.concatenate([carry(demo.shapedirs), 0.003 * rand[:, :, : N_SHAPE - S0]], axis=-1)
    exprdirs = np.concatenate([carry(demo.exprdirs), 0.002 * rand[:, :, N_SHAPE - S0 :]], axis=-1)
    posedirs = carry(_smooth_fields(eig, 36, 20, rng, 1.0)) * 1e-3
    weights = carry(demo.lbs_weights)
    weights /= weights.sum(1, keepdims=True)
    J = np.zeros((demo.n_joints, N_VERTICES))
    J[:, : demo.n_vertices] = demo.J_regressor
    regions = {}
    for name, idx in demo.regions.items():
        member = np.zeros(demo.n_vertices)
        member[idx] = 1.0
        regions[name] = np.nonzero(P @ member > 0.75)[0]
    groups = {name: np.nonzero(np.isin(origin, idx))[0] for name, idx in demo.face_groups.items()}
    return MorphableModel(
        name="synthetic-5023",
        kind="synthetic",
        v_template=v5,
        faces=f5,
        shapedirs=shapedirs,
        exprdirs=exprdirs,
        posedirs=posedirs,
        J_regressor=J,
        lbs_weights=weights,
        parents=demo.parents,
        regions=regions,
        landmark_embeddings={"mediapipe": identity_embedding(f5, demo.n_vertices)},
        expression_names=list(demo.expression_names) + [f"expr_{i:03d}" for i in range(E0, N_EXPR)],
        expression_regions=dict(demo.expression_regions),
        face_groups=groups,
        uv=None if demo.uv is None else carry(demo.uv),
        metadata={
            "description": "Synthetic FLAME-sized model (5023 vertices) on the refined demo head; NOT FLAME, for tests and benchmarks",
            "not_flame": "true",
            "seed": str(SEED),
        },
    )


def synthetic_model() -> MorphableModel:
    """The 5023-vertex synthetic model (cached per process; callers must not modify it)."""
    return _build()
