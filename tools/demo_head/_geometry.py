"""Small mesh-processing helpers used to build the demo head and the synthetic model.

Cotangent Laplacian and lumped mass, biharmonic interpolation of handle displacements,
graph distances and k-ring growth, ordered loops from edge sets. Numpy/scipy only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import dijkstra

__all__ = [
    "edges_of",
    "adjacency",
    "cotan_laplacian",
    "graph_distance",
    "grow",
    "biharmonic_fill",
    "harmonic_fill",
    "ordered_loops",
    "vertex_normals",
    "mirror_map",
    "smoothstep",
]


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, C1-smooth in between (works for ``lo > hi`` too)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def edges_of(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(E, 2)`` (sorted pairs) of a triangle list."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def adjacency(faces: np.ndarray, n: int, vertices: np.ndarray | None = None) -> sp.csr_matrix:
    """Symmetric vertex adjacency; weights are edge lengths when ``vertices`` is given, else 1."""
    e = edges_of(faces)
    w = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1) if vertices is not None else np.ones(len(e))
    a = sp.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n))
    return (a + a.T).tocsr()


def cotan_laplacian(vertices: np.ndarray, faces: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Positive semi-definite cotangent Laplacian ``L (V,V)`` and lumped (barycentric) areas ``(V,)``.

    Negative cotangent weights (obtuse triangles) are clamped to a small positive value so
    that interpolation stays monotone.
    """
    v = np.asarray(vertices, dtype=np.float64)
    n = len(v)
    rows, cols, vals = [], [], []
    area = np.zeros(n)
    for k in range(3):
        i, j, o = faces[:, k], faces[:, (k + 1) % 3], faces[:, (k + 2) % 3]
        a, b = v[i] - v[o], v[j] - v[o]
        cross = np.linalg.norm(np.cross(a, b), axis=1)
        cot = (a * b).sum(1) / np.maximum(cross, 1e-12)
        rows += [i, j]
        cols += [j, i]
        vals += [0.5 * cot, 0.5 * cot]
    tri_area = 0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]]), axis=1)
    for k in range(3):
        np.add.at(area, faces[:, k], tri_area / 3.0)
    W = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    W.data = np.maximum(W.data, 1e-3)
    L = sp.diags(np.asarray(W.sum(1)).ravel()) - W
    return L.tocsr(), np.maximum(area, 1e-12)


def graph_distance(vertices: np.ndarray, faces: np.ndarray, sources) -> np.ndarray:
    """Shortest edge-path distance ``(V,)`` from the nearest of ``sources`` (vertex ids)."""
    A = adjacency(faces, len(vertices), vertices)
    d = dijkstra(A, directed=False, indices=np.atleast_1d(np.asarray(sources)), min_only=True)
    return np.asarray(d)


def grow(faces: np.ndarray, n: int, seeds, rings: int) -> np.ndarray:
    """``seeds`` plus ``rings`` rings of neighbours, sorted unique int32."""
    A = adjacency(faces, n)
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(list(seeds), dtype=np.int64)] = True
    for _ in range(rings):
        mask = mask | (A @ mask.astype(np.float64) > 0)
    return np.nonzero(mask)[0].astype(np.int32)


def _constrained_solve(Q: sp.csr_matrix, known: np.ndarray, values: np.ndarray) -> np.ndarray:
    n = Q.shape[0]
    free = np.setdiff1d(np.arange(n), known)
    out = np.zeros((n,) + values.shape[1:])
    out[known] = values
    if len(free):
        Qff = Q[free][:, free].tocsc()
        rhs = -(Q[free][:, known] @ values)
        out[free] = spla.spsolve(Qff, rhs).reshape((len(free),) + values.shape[1:])
    return out


def biharmonic_fill(
    vertices: np.ndarray,
    faces: np.ndarray,
    handles: dict[int, np.ndarray],
    fixed: np.ndarray,
) -> np.ndarray:
    """Smooth displacement field ``(V, 3)``: prescribed at ``handles``, zero at ``fixed``.

    Minimises the discrete bi-Laplacian energy ``u^T L M^-1 L u`` over the free vertices
    (biharmonic deformation, as in Botsch & Kobbelt / Jacobson et al.).
    """
    L, area = cotan_laplacian(vertices, faces)
    Q = (L.T @ sp.diags(1.0 / area) @ L).tocsr()
    ids = np.array(sorted(handles), dtype=np.int64)
    fixed = np.setdiff1d(np.asarray(fixed, dtype=np.int64), ids)
    known = np.concatenate([ids, fixed])
    vals = np.concatenate([np.array([handles[i] for i in ids], dtype=np.float64).reshape(-1, 3), np.zeros((len(fixed), 3))])
    return _constrained_solve(Q, known, vals)


def harmonic_fill(vertices: np.ndarray, faces: np.ndarray, known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Harmonic interpolation of scalar ``values`` at vertices ``known`` over the rest ``(V,)``."""
    L, _ = cotan_laplacian(vertices, faces)
    return _constrained_solve(L, np.asarray(known, dtype=np.int64), np.asarray(values, dtype=np.float64))


def ordered_loops(edges) -> list[list[int]]:
    """Split an edge set into connected pieces, each ordered along its path or cycle."""
    nbrs: dict[int, set[int]] = {}
    for a, b in edges:
        nbrs.setdefault(int(a), set()).add(int(b))
        nbrs.setdefault(int(b), set()).add(int(a))
    seen: set[int] = set()
    loops = []
    for start in sorted(nbrs):
        if start in seen:
            continue
        comp, stack = set(), [start]
        while stack:
            x = stack.pop()
            if x not in comp:
                comp.add(x)
                stack.extend(nbrs[x] - comp)
        ends = sorted(v for v in comp if len(nbrs[v]) == 1)
        cur = ends[0] if ends else min(comp)
        order = [cur]
        while True:
            nxt = sorted(nbrs[cur] - set(order))
            if not nxt:
                break
            cur = nxt[0]
            order.append(cur)
        seen |= comp
        loops.append(order)
    return loops


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)``."""
    v = np.asarray(vertices, dtype=np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def mirror_map(vertices: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """Index of each vertex's mirror image across x = 0 (error if the mesh is not symmetric)."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(vertices).query(vertices * np.array([-1.0, 1.0, 1.0]))
    if d.max() > tol * max(1.0, np.abs(vertices).max()):
        raise ValueError(f"mesh is not left-right symmetric (max mirror error {d.max():.4g})")
    return idx.astype(np.int64)
