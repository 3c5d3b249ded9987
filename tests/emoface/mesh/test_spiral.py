"""Spiral sequences follow the SpiralNet++ ring definition (k-rings / k-disks) on real meshes."""

import numpy as np
import pytest
import trimesh

from emoface.mesh.spiral import (
    SpiralError,
    extract_spirals,
    k_disk,
    spiral_indices,
    vertex_fans,
    vertex_rings,
)
from tools.demo_head.canonical_mesh import load_canonical_mesh


def _bfs_distance(faces, n, v):
    adj = [set() for _ in range(n)]
    for a, b, c in faces:
        adj[a] |= {b, c}
        adj[b] |= {a, c}
        adj[c] |= {a, b}
    dist = {v: 0}
    frontier = [v]
    while frontier:
        nxt = []
        for u in frontier:
            for w in adj[u]:
                if w not in dist:
                    dist[w] = dist[u] + 1
                    nxt.append(w)
        frontier = nxt
    return dist


def _grid(n=6):
    """A flat n x n vertex grid patch (has a boundary), consistently oriented."""
    idx = np.arange(n * n).reshape(n, n)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = idx[i, j], idx[i, j + 1], idx[i + 1, j], idx[i + 1, j + 1]
            faces += [(a, b, d), (a, d, c)]
    xy = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2)
    return np.c_[xy, np.zeros(n * n)].astype(float), np.array(faces)


@pytest.mark.parametrize("mesh", ["icosphere", "grid", "canonical"])
def test_spirals_enumerate_k_disks_in_ring_order(mesh):
    if mesh == "icosphere":
        m = trimesh.creation.icosphere(2)
        verts, faces = m.vertices, m.faces
    elif mesh == "grid":
        verts, faces = _grid()
    else:
        cm = load_canonical_mesh()
        verts, faces = cm.vertices, cm.faces
    n = len(verts)
    length = 19
    spirals = extract_spirals(faces, n, length, 1, verts)
    assert spirals.shape == (n, length)
    for v in range(0, n, max(1, n // 60)):
        s = spirals[v].tolist()
        assert s[0] == v
        assert len(set(s)) == length, "a spiral never repeats a vertex"
        dist = _bfs_distance(faces, n, v)
        d = [dist[u] for u in s]
        assert d == sorted(d), f"vertex {v}: spiral not ordered by ring"
        # the first |k-disk| entries are exactly the k-disk (for every complete ring)
        for k in range(max(d)):
            disk = {u for u, du in dist.items() if du <= k}
            assert set(s[: len(disk)]) == disk
    # the library's own k-disk / ring helpers agree with the breadth-first distances
    for v in (0, n // 2):
        dist = _bfs_distance(faces, n, v)
        assert k_disk(faces, n, v, 2) == {u for u, du in dist.items() if du <= 2}
        assert vertex_rings(faces, n, v, 2)[2] == sorted(u for u, du in dist.items() if du == 2)


def test_one_ring_is_in_rotational_order():
    m = trimesh.creation.icosphere(2)
    fans = vertex_fans(m.faces, len(m.vertices))
    edges = {tuple(e) for e in m.edges}
    for v in range(0, len(m.vertices), 7):
        fan = fans[v]
        assert len(fan) in (5, 6)
        # consecutive neighbours in the fan are joined by an edge (a closed cycle for a closed surface)
        for a, b in zip(fan, fan[1:] + fan[:1]):
            assert (a, b) in edges or (b, a) in edges


def test_dilation_takes_every_dth_entry():
    m = trimesh.creation.icosphere(3)
    n = len(m.vertices)
    full = extract_spirals(m.faces, n, 18, 1)
    dil = extract_spirals(m.faces, n, 9, 2)
    np.testing.assert_array_equal(dil, full[:, ::2])


def test_small_component_falls_back_to_nearest_neighbours():
    verts, faces = _grid(6)
    tri_v = np.array([[100.0, 0, 0], [101, 0, 0], [100, 1, 0]])
    verts2 = np.r_[verts, tri_v]
    faces2 = np.r_[faces, [[36, 37, 38]]]
    with pytest.raises(SpiralError, match="nearest-neighbour fallback"):
        extract_spirals(faces2, 39, 5, 1)
    s = extract_spirals(faces2, 39, 5, 1, verts2)
    assert s[36, 0] == 36 and set(s[36, :3]) == {36, 37, 38}


def test_spiral_indices_is_cached_and_read_only():
    cm = load_canonical_mesh()
    a = spiral_indices(cm.faces, 468, 9, 1, cm.vertices)
    b = spiral_indices(cm.faces, 468, 9, 1, cm.vertices)
    assert a is b and not a.flags.writeable
    with pytest.raises(SpiralError):
        spiral_indices(np.array([[0, 1, 5]]), 3, 9)
