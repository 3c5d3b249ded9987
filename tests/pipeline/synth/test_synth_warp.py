"""Piecewise-affine warping: the backward map agrees with per-triangle warpAffine, identity is exact."""

import numpy as np

from pipeline.sources.synth.warp import Region, affine_to_source, warp_backward_map, warp_per_triangle


def _grid_mesh(n=6, size=120):
    xs = np.linspace(20, size - 20, n)
    pts = np.array([(x, y) for y in xs for x in xs], np.float32)
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            i = r * n + c
            tris += [(i, i + 1, i + n), (i + 1, i + n + 1, i + n)]
    return pts, np.array(tris)


def _texture(size=120):
    rng = np.random.default_rng(0)
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(img[::4, ::4], 4, 0), 4, 1)[:size, :size])


def test_affine_maps_target_corners_to_source_corners():
    src = np.array([[[0, 0], [10, 0], [0, 10]]], np.float32)
    dst = np.array([[[5, 5], [25, 7], [4, 30]]], np.float32)
    a, valid = affine_to_source(src, dst)
    assert valid.all()
    homo = np.concatenate([dst[0], np.ones((3, 1))], 1)
    np.testing.assert_allclose(homo @ a[0].T, src[0], atol=1e-4)
    _, valid = affine_to_source(src, np.array([[[0, 0], [1, 1], [2, 2]]], np.float32))
    assert not valid.any()


def test_identity_warp_reproduces_the_texture():
    tex = _texture()
    pts, tris = _grid_mesh()
    reg = Region(0, 0, 120, 120)
    patch, ids = warp_backward_map(tex, pts, pts, tris, np.arange(len(tris)), reg)
    inside = ids >= 0
    assert inside.mean() > 0.4
    np.testing.assert_array_equal(patch[inside], tex[inside])


def test_backward_map_matches_per_triangle_warps():
    tex = _texture()
    pts, tris = _grid_mesh()
    rng = np.random.default_rng(1)
    dst = pts + rng.normal(0, 2.0, pts.shape).astype(np.float32)
    reg = Region(0, 0, 120, 120)
    order = np.arange(len(tris))
    a, ids = warp_backward_map(tex, pts, dst, tris, order, reg)
    b = warp_per_triangle(tex, pts, dst, tris, order, reg)
    inside = ids >= 0
    diff = np.abs(a.astype(int) - b.astype(int))[inside]
    assert np.median(diff) == 0 and diff.mean() < 3.0  # only triangle-edge pixels may differ
    # a moved vertex carries its texture along (smooth texture: sub-pixel sampling hardly matters)
    yy, xx = np.mgrid[0:120, 0:120].astype(np.float32)
    smooth = np.stack([xx * 2, yy * 2, 128 + 60 * np.sin(xx / 9) * np.cos(yy / 7)], -1).astype(np.uint8)
    c, _ = warp_backward_map(smooth, pts, dst, tris, order, reg)
    for k in (14, 15, 20, 21):
        sx, sy = pts[k]
        dx, dy = np.round(dst[k]).astype(int)
        expect = np.array([2 * (sx + dx - dst[k][0]), 2 * (sy + dy - dst[k][1])])
        assert np.abs(c[dy, dx, :2].astype(float) - expect).max() < 3.0
