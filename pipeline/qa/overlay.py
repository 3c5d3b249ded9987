"""Per-clip thumbnail: a frame with the detected landmarks and the fitted mesh drawn over it."""

from __future__ import annotations

import numpy as np

__all__ = ["mesh_in_image", "draw_overlay", "encode_png", "mesh_edges"]


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(M, 2)`` of a triangle mesh."""
    f = np.asarray(faces, np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


def mesh_in_image(vertices: np.ndarray, rotation: np.ndarray, translation: np.ndarray, camera) -> np.ndarray:
    """Front-facing ``vertices (V, 3)`` placed by one frame's head pose and projected: ``(V, 2)`` px."""
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec(np.asarray(rotation, np.float64)).as_matrix()
    p = np.asarray(vertices, np.float64) @ R.T + np.asarray(translation, np.float64)
    d = np.maximum(-p[:, 2], 1e-6)
    return np.stack([camera.cx + camera.fx * p[:, 0] / d, camera.cy - camera.fy * p[:, 1] / d], 1)


def draw_overlay(image: np.ndarray, scale: float, landmarks: np.ndarray | None, mesh_uv: np.ndarray | None,
                 faces: np.ndarray | None, size: int = 160) -> np.ndarray:
    """A square face crop ``(size, size, 3) uint8`` of ``image`` with the mesh (cyan wireframe)
    and the detected landmarks (green dots) drawn over it.

    ``image`` is a (possibly downscaled) video frame; ``scale`` = image px per source px;
    ``landmarks (N, 2)`` and ``mesh_uv (V, 2)`` are in source pixels.
    """
    import cv2

    img = np.ascontiguousarray(image[..., :3]).astype(np.uint8).copy()
    h, w = img.shape[:2]
    pts = [p for p in (landmarks, mesh_uv) if p is not None and len(p)]
    if pts:
        allp = np.concatenate([np.asarray(p, np.float64)[:, :2] for p in pts]) * scale
        allp = allp[np.isfinite(allp).all(1)]
    else:
        allp = np.zeros((0, 2))
    if len(allp):
        lo, hi = np.percentile(allp, 1, axis=0), np.percentile(allp, 99, axis=0)
        centre, half = (lo + hi) / 2, max(hi[0] - lo[0], hi[1] - lo[1]) * 0.65 + 4
    else:
        centre, half = np.array([w / 2, h / 2]), min(w, h) / 2
    up = 4  # draw at 4x the crop resolution, then downsample: smooth lines without tiny pixels
    k = up * size / (2 * half)
    M = np.array([[k, 0, -(centre[0] - half) * k], [0, k, -(centre[1] - half) * k]], np.float64)
    big = cv2.warpAffine(img, M, (up * size, up * size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def to_big(p: np.ndarray) -> np.ndarray:
        q = np.asarray(p, np.float64)[:, :2] * scale
        return q @ M[:, :2].T + M[:, 2]

    layer = big.copy()
    if mesh_uv is not None and faces is not None:
        q = to_big(mesh_uv)
        e = mesh_edges(faces)
        ok = np.isfinite(q[e]).all(axis=(1, 2))
        lines = np.round(q[e[ok]] * 16).astype(np.int32)  # 4 fractional bits
        cv2.polylines(layer, list(lines), False, (40, 220, 255), thickness=max(1, up // 2), lineType=cv2.LINE_AA, shift=4)
    big = cv2.addWeighted(layer, 0.4, big, 0.6, 0.0)
    if landmarks is not None:
        for x, y in np.round(to_big(landmarks) * 16).astype(np.int64):
            if abs(x) < 1 << 28 and abs(y) < 1 << 28:
                cv2.circle(big, (int(x), int(y)), up * 16 * 3 // 4, (0, 120, 0), -1, lineType=cv2.LINE_AA, shift=4)
                cv2.circle(big, (int(x), int(y)), up * 16 // 2, (90, 255, 90), -1, lineType=cv2.LINE_AA, shift=4)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB ``uint8`` image."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
