"""Spiral sequences on a triangle mesh (SpiralNet++ ordering), computed from the faces.

A spiral of vertex ``v`` lists ``v``, then its 1-ring, its 2-ring, ... (Gong et al. 2019,
"SpiralNet++"; EmoFace paper §3.2):

- ``0-ring(v) = {v}``
- ``(k+1)-ring(v) = N(k-ring(v)) \\ k-disk(v)``
- ``k-disk(v) = 0-ring(v) ∪ ... ∪ k-ring(v)``

Inside a ring the order is the rotational order of the mesh: the 1-ring follows the fan of
triangles around ``v`` (counter-clockwise for the faces' winding, starting at the lowest
neighbour index of an interior vertex, or at the first vertex of the fan of a boundary
vertex); each next ring is collected by walking the previous ring in order and, for each of
its vertices, visiting its neighbours in rotational order starting just after a neighbour
that lies on the previous ring. A spiral of length ``L`` with dilation ``d`` keeps the first
``L * d`` entries and then every ``d``-th one. When the rings of a small connected
component run out before ``L * d`` vertices, the spiral is the ``L * d`` nearest vertices in
space instead (as SpiralNet++ does), which needs the vertex positions.

No OpenMesh: the rotational order is read from oriented faces with numpy.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

__all__ = ["vertex_fans", "vertex_rings", "k_disk", "extract_spirals", "spiral_indices", "SpiralError"]


class SpiralError(ValueError):
    """Faces or parameters that do not allow spirals to be built (the message says why)."""


def _check_faces(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise SpiralError(f"faces must have shape (F, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        raise SpiralError(f"faces index vertices outside [0, {n_vertices})")
    return faces.astype(np.int64)


def vertex_fans(faces: np.ndarray, n_vertices: int) -> list[list[int]]:
    """Neighbours of every vertex in rotational (fan) order.

    Each oriented face ``(a, b, c)`` seen from ``a`` links neighbour ``b`` to neighbour
    ``c``; following these links walks the fan counter-clockwise. An interior vertex gives a
    cycle (started at its lowest neighbour index), a boundary vertex a chain started at the
    neighbour with no incoming link. Non-manifold leftovers are appended in index order.
    Returns a list of length ``n_vertices``; an isolated vertex has an empty list.
    """
    faces = _check_faces(faces, n_vertices)
    succ: list[dict[int, int]] = [dict() for _ in range(n_vertices)]
    for a, b, c in faces.tolist():
        for v, n1, n2 in ((a, b, c), (b, c, a), (c, a, b)):
            succ[v].setdefault(n1, n2)
    fans: list[list[int]] = []
    for v in range(n_vertices):
        links = succ[v]
        if not links:
            fans.append([])
            continue
        nbrs = set(links) | set(links.values())
        targets = set(links.values())
        starts = sorted(n for n in links if n not in targets)  # boundary chain starts
        order: list[int] = []
        seen: set[int] = set()
        for start in starts or [min(nbrs)]:
            cur = start
            while cur not in seen:
                order.append(cur)
                seen.add(cur)
                if cur not in links:
                    break
                cur = links[cur]
        order.extend(sorted(nbrs - seen))
        fans.append(order)
    return fans


def vertex_rings(faces: np.ndarray, n_vertices: int, v: int, k: int) -> list[list[int]]:
    """The rings ``0-ring(v) ... k-ring(v)`` as sets in ascending index order (by definition)."""
    adj = [set(f) for f in vertex_fans(faces, n_vertices)]
    rings = [[v]]
    disk = {v}
    for _ in range(k):
        nxt = set().union(*(adj[u] for u in rings[-1])) - disk if rings[-1] else set()
        rings.append(sorted(nxt))
        disk |= nxt
    return rings


def k_disk(faces: np.ndarray, n_vertices: int, v: int, k: int) -> set[int]:
    """``k-disk(v)``: every vertex within ``k`` edges of ``v``."""
    return set().union(*map(set, vertex_rings(faces, n_vertices, v, k)))


def _next_ring(fans: list[list[int]], last_ring: list[int], taken: set[int]) -> list[int]:
    """Vertices adjacent to ``last_ring`` not in ``taken`` or ``last_ring``, in rotational order."""
    last = set(last_ring)
    out: list[int] = []
    seen = set(taken) | last
    for u in last_ring:
        fan = fans[u]
        start = next((i + 1 for i, n in enumerate(fan) if n in last), 0)
        for n in fan[start:] + fan[:start]:
            if n not in seen:
                seen.add(n)
                out.append(n)
    return out


def extract_spirals(
    faces: np.ndarray,
    n_vertices: int,
    seq_length: int,
    dilation: int = 1,
    vertices: np.ndarray | None = None,
) -> np.ndarray:
    """Spiral indices ``(V, seq_length)`` int64 in SpiralNet++ order (see the module docstring).

    Args:
        faces: ``(F, 3)`` oriented triangles.
        n_vertices: V.
        seq_length: spiral length L (entries per vertex, the centre included).
        dilation: keep every ``dilation``-th entry of the first ``L * dilation``.
        vertices: ``(V, 3)`` positions, used only when a vertex's rings hold fewer than
            ``L * dilation`` vertices (then its spiral is its nearest vertices in space).
    """
    if seq_length < 1 or dilation < 1:
        raise SpiralError(f"seq_length and dilation must be >= 1, got {seq_length}, {dilation}")
    need = seq_length * dilation
    fans = vertex_fans(faces, n_vertices)
    tree = None
    out = np.empty((n_vertices, seq_length), dtype=np.int64)
    for v in range(n_vertices):
        spiral = [v]
        taken = {v}
        ring = list(fans[v])
        while ring and len(spiral) < need:
            spiral.extend(ring)
            taken.update(ring)
            ring = _next_ring(fans, ring, taken)
        if len(spiral) < need:
            if vertices is None:
                raise SpiralError(
                    f"vertex {v}: its connected component has only {len(spiral)} vertices, fewer than "
                    f"seq_length*dilation={need}; pass vertex positions for the nearest-neighbour fallback"
                )
            if need > n_vertices:
                raise SpiralError(f"seq_length*dilation={need} exceeds the vertex count {n_vertices}")
            if tree is None:
                from scipy.spatial import cKDTree

                tree = cKDTree(np.asarray(vertices, dtype=np.float64))
            _, idx = tree.query(np.asarray(vertices, dtype=np.float64)[v], k=need)
            rest = [int(i) for i in np.atleast_1d(idx) if int(i) != v]
            spiral = [v] + rest[: need - 1]
        out[v] = spiral[:need][::dilation]
    return out


@functools.lru_cache(maxsize=16)
def _cached(key: str, faces_bytes: bytes, n_vertices: int, seq_length: int, dilation: int,
            vertices_bytes: bytes | None) -> np.ndarray:
    faces = np.frombuffer(faces_bytes, dtype=np.int64).reshape(-1, 3)
    verts = None if vertices_bytes is None else np.frombuffer(vertices_bytes, dtype=np.float64).reshape(-1, 3)
    out = extract_spirals(faces, n_vertices, seq_length, dilation, verts)
    out.setflags(write=False)
    return out


def spiral_indices(
    faces: np.ndarray,
    n_vertices: int,
    seq_length: int,
    dilation: int = 1,
    vertices: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`extract_spirals`, memoised per topology (sha256 of the faces) and parameters.

    Returns a read-only ``(V, seq_length)`` int64 array; copy it before changing it.
    """
    faces64 = np.ascontiguousarray(_check_faces(faces, n_vertices))
    fb = faces64.tobytes()
    vb = None if vertices is None else np.ascontiguousarray(np.asarray(vertices, dtype=np.float64)).tobytes()
    key = hashlib.sha256(fb).hexdigest()
    return _cached(key, fb, n_vertices, seq_length, dilation, vb)
