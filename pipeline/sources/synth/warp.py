"""Piecewise-affine image warping: move a triangulated texture to new vertex positions.

Two implementations of the same map (the benchmark ``bench/bench_synth.py --warp`` compares them):

- :func:`warp_backward_map` (the one the generator uses): rasterise triangle ids once per frame
  into an integer buffer (``cv2.fillConvexPoly``, later triangles overwrite earlier ones, so the
  draw order is the depth order), turn every pixel's triangle id into the affine map from the
  target triangle back to its source triangle, and sample the texture once with
  ``cv2.remap``. Cost: one small polygon fill per triangle plus one remap of the region.
- :func:`warp_per_triangle`: the classic face-morphing loop, one ``cv2.warpAffine`` on each
  triangle's bounding box and a masked copy. Cost grows with the number of triangles times the
  per-call overhead.

Pixel coordinates are OpenCV's: x right, y down, pixel centres at integers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Region", "affine_to_source", "rasterise_ids", "warp_backward_map", "warp_per_triangle"]

_SHIFT = 4  # sub-pixel bits for cv2 polygon filling
_SCALE = float(1 << _SHIFT)


@dataclass(frozen=True)
class Region:
    """A pixel rectangle ``[x0, x1) x [y0, y1)`` of the output image."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, points: np.ndarray, width: int, height: int, pad: int = 2) -> "Region":
        """The bounding box of ``points (N, 2)`` grown by ``pad`` pixels and clipped to the image."""
        lo = np.floor(points.min(axis=0)).astype(int) - pad
        hi = np.ceil(points.max(axis=0)).astype(int) + pad + 1
        return cls(max(int(lo[0]), 0), max(int(lo[1]), 0), min(int(hi[0]), width), min(int(hi[1]), height))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def affine_to_source(src_tri: np.ndarray, dst_tri: np.ndarray, min_area: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle affine maps from target to source pixels.

    Args:
        src_tri: ``(F, 3, 2)`` source (texture) triangle corners, pixels.
        dst_tri: ``(F, 3, 2)`` target triangle corners, pixels.
    Returns:
        ``A (F, 2, 3)`` with ``src = A @ [x, y, 1]`` for a target pixel ``(x, y)``, and
        ``valid (F,)``: target triangles with at least ``min_area`` square pixels (degenerate
        ones get the identity-free zero map and must not be drawn).
    """
    d = dst_tri.astype(np.float64)
    s = src_tri.astype(np.float64)
    # linear part L = Ms @ inv(Md) with Md, Ms the edge matrices [c1 - c0, c2 - c0] (columns)
    d1, d2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    s1, s2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]  # twice the signed area
    valid = np.abs(det) > 2.0 * min_area
    inv = 1.0 / np.where(valid, det, 1.0)
    # inv(Md) = [[d2y, -d2x], [-d1y, d1x]] / det
    a = np.empty((d.shape[0], 2, 3))
    for r in range(2):
        a[:, r, 0] = (s1[:, r] * d2[:, 1] - s2[:, r] * d1[:, 1]) * inv
        a[:, r, 1] = (-s1[:, r] * d2[:, 0] + s2[:, r] * d1[:, 0]) * inv
        a[:, r, 2] = s[:, 0, r] - a[:, r, 0] * d[:, 0, 0] - a[:, r, 1] * d[:, 0, 1]
    a[~valid] = 0.0
    return a.astype(np.float32), valid


def rasterise_ids(
    dst_tri: np.ndarray, order: np.ndarray, region: Region, ids: np.ndarray | None = None, step: int = 1
) -> np.ndarray:
    """Fill triangle ids into an ``int32`` buffer over ``region`` (-1 where nothing is drawn).

    ``order`` lists the triangle indices to draw, back to front; a later triangle overwrites
    an earlier one. With ``step`` s > 1 the buffer has one cell per s x s pixel block,
    sampled at the block's centre. Pass ``ids`` to draw on top of an existing buffer.
    """
    h, w = region.shape
    if ids is None:
        ids = np.full((-(-h // step), -(-w // step)), -1, dtype=np.int32)
    origin = np.array([region.x0, region.y0], np.float32) + 0.5 * (step - 1)
    pts = np.round((dst_tri - origin) / step * _SCALE).astype(np.int32)
    fill = cv2.fillConvexPoly
    for k in order.tolist():
        fill(ids, pts[k], k, cv2.LINE_8, _SHIFT)
    return ids


def warp_backward_map(
    texture: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    triangles: np.ndarray,
    order: np.ndarray,
    region: Region,
    step: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``texture`` so that vertex ``src[i]`` lands on ``dst[i]``, inside ``region``.

    Args:
        texture: ``(H, W, C)`` uint8 image the source coordinates refer to.
        src, dst: ``(N, 2)`` float pixels.
        triangles: ``(F, 3)`` vertex indices.
        order: triangle indices to draw, back to front (others are skipped).
        region: the output rectangle (in the output image, which has the texture's size).
        step: 1 computes the map at every pixel (exact piecewise-affine warp). 2 computes it
            on 2 x 2 blocks and interpolates it bilinearly: exact inside triangles, within a
            small fraction of a pixel along shared edges (the map is continuous there), only
            blurred by a pixel where it is not (occlusion edges). About 3x cheaper.
    Returns:
        ``(patch, ids)``: the warped ``region`` ``(h, w, C)``, and the triangle id per cell
        (``-1`` where no triangle was drawn: the patch shows the texture unchanged there).
    """
    src_tri = src[triangles].astype(np.float32)
    dst_tri = dst[triangles].astype(np.float32)
    amap, valid = affine_to_source(src_tri, dst_tri)
    order = order[valid[order]]
    ids = rasterise_ids(dst_tri, order, region, step=step)
    # table row 0: identity (undrawn cells), row k + 1: triangle k; one contiguous column each
    table = np.empty((6, amap.shape[0] + 1), np.float32)
    table[:, 0] = (1, 0, 0, 0, 1, 0)
    table[:, 1:] = amap.reshape(-1, 6).T
    idx = ids + 1
    gx, gy = _grid(region, step)
    c = [np.ascontiguousarray(row).take(idx) for row in table]
    map_x = c[0] * gx + c[1] * gy + c[2]
    map_y = c[3] * gx + c[4] * gy + c[5]
    if step > 1:
        h, w = region.shape
        # cv2.resize's bilinear convention puts coarse cell j at fine pixel step * j + (step - 1) / 2
        map_x = cv2.resize(map_x, (w, h), interpolation=cv2.INTER_LINEAR)
        map_y = cv2.resize(map_y, (w, h), interpolation=cv2.INTER_LINEAR)
    patch = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch, ids


@functools.lru_cache(maxsize=16)
def _grid(region: Region, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(h', w')`` float32 of a region's cells (cached: regions repeat per actor)."""
    h, w = region.shape
    off = 0.5 * (step - 1)
    xs = np.arange(-(-w // step), dtype=np.float32) * step + region.x0 + off
    ys = np.arange(-(-h // step), dtype=np.float32) * step + region.y0 + off
    gx = np.broadcast_to(xs[None, :], (len(ys), len(xs)))
    gy = np.broadcast_to(ys[:, None], (len(ys), len(xs)))
    return np.ascontiguousarray(gx), np.ascontiguousarray(gy)


def warp_per_triangle(
    texture: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, order: np.ndarray, region: Region
) -> np.ndarray:
    """The same warp done triangle by triangle with bounding-box-local ``cv2.warpAffine`` calls."""
    out = texture[region.slices].copy()
    hh, ww = texture.shape[:2]
    for k in order.tolist():
        s = src[triangles[k]].astype(np.float32)
        d = dst[triangles[k]].astype(np.float32)
        sx0, sy0 = np.floor(s.min(0)).astype(int) - 1
        sx1, sy1 = np.ceil(s.max(0)).astype(int) + 2
        dx0, dy0 = np.floor(d.min(0)).astype(int)
        dx1, dy1 = np.ceil(d.max(0)).astype(int) + 1
        sx0, sy0, sx1, sy1 = max(sx0, 0), max(sy0, 0), min(sx1, ww), min(sy1, hh)
        dx0, dy0 = max(dx0, region.x0), max(dy0, region.y0)
        dx1, dy1 = min(dx1, region.x1), min(dy1, region.y1)
        if dx1 <= dx0 or dy1 <= dy0 or sx1 <= sx0 or sy1 <= sy0:
            continue
        m = cv2.getAffineTransform(s - np.float32([sx0, sy0]), d - np.float32([dx0, dy0]))
        patch = cv2.warpAffine(
            texture[sy0:sy1, sx0:sx1], m, (dx1 - dx0, dy1 - dy0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        mask = np.zeros((dy1 - dy0, dx1 - dx0), np.uint8)
        cv2.fillConvexPoly(mask, np.round((d - np.float32([dx0, dy0])) * _SCALE).astype(np.int32), 1, cv2.LINE_8, _SHIFT)
        view = out[dy0 - region.y0 : dy1 - region.y0, dx0 - region.x0 : dx1 - region.x0]
        np.copyto(view, patch, where=mask[..., None].astype(bool))
    return out
