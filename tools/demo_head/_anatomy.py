"""Facial anatomy of the MediaPipe canonical mesh: lip/eye/brow contours and vertex regions.

The contours come from MediaPipe's published connection sets
(``mediapipe.tasks.python.vision.FaceLandmarksConnections``: lips, eyes, eyebrows, nose,
face oval). Coordinates are the canonical mesh's centimetres: x towards the subject's
left, y up, z out of the face. "left"/"right" always mean the subject's own side
(MediaPipe's ``LEFT_EYE`` is at +x).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emoface.morphable.mediapipe_indices import EYE_CORNERS, LIP_CORNERS_INNER, LIP_CORNERS_OUTER, SUBNASALE

from ._geometry import graph_distance, grow, mirror_map, ordered_loops

__all__ = ["Anatomy", "build_anatomy"]


def _pairs(conns) -> list[tuple[int, int]]:
    return [(int(c.start), int(c.end)) for c in conns]


def _split_cycle(cycle: list[int], a: int, b: int, v: np.ndarray) -> tuple[list[int], list[int]]:
    """Two paths from ``a`` to ``b`` along a closed cycle, returned as (upper, lower) by mean y."""
    i = cycle.index(a)
    c = cycle[i:] + cycle[:i]  # starts at a
    j = c.index(b)
    p1 = c[: j + 1]
    p2 = [a] + c[j + 1 :][::-1] + [b]
    if v[p1, 1].mean() >= v[p2, 1].mean():
        return p1, p2
    return p2, p1


@dataclass
class Anatomy:
    """Landmark groups (vertex indices) and helpers on the canonical mesh (cm)."""

    vertices: np.ndarray
    faces: np.ndarray
    cut_faces: np.ndarray  # faces without the triangles that close the mouth and the eyes
    interior: dict[str, np.ndarray]  # face ids: mouth_interior, left_eye_interior, right_eye_interior
    mirror: np.ndarray
    lips: dict[str, list[int]]  # upper_outer, lower_outer, upper_inner, lower_inner (corner to corner)
    eyes: dict[str, dict[str, list[int]]]  # side -> upper, lower, contour
    brows: dict[str, list[int]]
    nose: list[int]
    oval: list[int]
    regions: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def lip_ring(self) -> np.ndarray:
        return np.unique(np.concatenate([self.lips[k] for k in self.lips]))

    def nearest(self, point, front: bool = True) -> int:
        """Vertex closest to ``point`` in x/y (the front-most surface when ``front``) or in 3D."""
        p = np.asarray(point, dtype=np.float64)
        if front and len(p) == 2:
            d = np.linalg.norm(self.vertices[:, :2] - p, axis=1)
            return int(np.argmin(d - 1e-3 * self.vertices[:, 2]))
        return int(np.argmin(np.linalg.norm(self.vertices - p, axis=1)))

    def within(self, seeds, radius_cm: float) -> np.ndarray:
        """Vertices within a surface (edge-path) distance of ``seeds`` on the cut mesh."""
        d = graph_distance(self.vertices, self.cut_faces, list(seeds))
        return np.nonzero(d <= radius_cm)[0].astype(np.int32)


def _inside(poly_xy: np.ndarray, pts: np.ndarray) -> np.ndarray:
    from matplotlib.path import Path as MPath

    return MPath(poly_xy).contains_points(pts, radius=1e-6)


def build_anatomy(vertices: np.ndarray, faces: np.ndarray) -> Anatomy:
    """Contours from MediaPipe's connection sets, interior triangles and the named regions."""
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    v = np.asarray(vertices, dtype=np.float64)
    lip_loops = ordered_loops(_pairs(C.FACE_LANDMARKS_LIPS))
    outer = max(lip_loops, key=lambda lp: np.ptp(v[lp, 0]) * np.ptp(v[lp, 1]))
    inner = min(lip_loops, key=lambda lp: np.ptp(v[lp, 0]) * np.ptp(v[lp, 1]))
    uo, lo = _split_cycle(outer, *LIP_CORNERS_OUTER, v)
    ui, li = _split_cycle(inner, *LIP_CORNERS_INNER, v)
    eyes, brows = {}, {}
    for side, conn_eye, conn_brow in (
        ("left", C.FACE_LANDMARKS_LEFT_EYE, C.FACE_LANDMARKS_LEFT_EYEBROW),
        ("right", C.FACE_LANDMARKS_RIGHT_EYE, C.FACE_LANDMARKS_RIGHT_EYEBROW),
    ):
        cyc = ordered_loops(_pairs(conn_eye))[0]
        up, low = _split_cycle(cyc, *EYE_CORNERS[side], v)
        eyes[side] = {"upper": up, "lower": low, "contour": cyc}
        brows[side] = sorted({i for e in _pairs(conn_brow) for i in e})
    nose = sorted({i for e in _pairs(C.FACE_LANDMARKS_NOSE) for i in e})
    oval = ordered_loops(_pairs(C.FACE_LANDMARKS_FACE_OVAL))[0]

    def closed_by(loop: list[int]) -> np.ndarray:
        return np.nonzero(np.isin(faces, loop).all(axis=1))[0].astype(np.int32)

    interior = {
        "mouth_interior": closed_by(inner),
        "left_eye_interior": closed_by(eyes["left"]["contour"]),
        "right_eye_interior": closed_by(eyes["right"]["contour"]),
    }
    drop = np.concatenate(list(interior.values()))
    cut = np.delete(faces, drop, axis=0)
    anat = Anatomy(v, faces, cut, interior, mirror_map(v), {"upper_outer": uo, "lower_outer": lo, "upper_inner": ui, "lower_inner": li},
                   eyes, brows, nose, oval)  # fmt: skip
    anat.regions = _regions(anat, outer)
    return anat


def _regions(a: Anatomy, outer_lip: list[int]) -> dict[str, np.ndarray]:
    v, f, n = a.vertices, a.faces, len(a.vertices)
    xy = v[:, :2]
    front = v[:, 2] > 0.0
    r: dict[str, np.ndarray] = {}
    lips = np.nonzero(_inside(v[outer_lip, :2], xy) & front)[0]
    r["lips"] = np.union1d(lips, outer_lip)
    r["mouth"] = a.within(r["lips"], 1.6)  # perioral: lips plus ~1.5 cm of skin
    for side in ("left", "right"):
        eye = a.eyes[side]["contour"]
        inside = np.nonzero(_inside(v[eye, :2], xy) & front)[0]
        r[f"{side}_eye"] = np.union1d(inside, eye)
        # eye region: lids, the skin up to and including the brow, a margin below and beside
        brow = a.brows[side]
        area = np.union1d(r[f"{side}_eye"], brow)
        lo_y = v[eye, 1].min() - 1.0
        hi_y = v[brow, 1].max() + 0.4
        xs = np.concatenate([v[eye, 0], v[brow, 0]])
        box = (v[:, 1] >= lo_y) & (v[:, 1] <= hi_y) & (v[:, 0] >= xs.min() - 0.5) & (v[:, 0] <= xs.max() + 0.5) & front
        r[f"{side}_eye_region"] = np.union1d(area, np.nonzero(box)[0])
        r[f"{side}_eyebrow"] = np.asarray(brow)
    # both eyes, both brows and the skin between them (glabella, top of the nasal bridge)
    inner = [a.eyes[s]["contour"] + list(a.brows[s]) for s in ("left", "right")]
    lo_y = min(v[i, 1].min() for i in inner) - 0.2
    hi_y = max(v[i, 1].max() for i in inner) + 0.4
    half = min(np.abs(v[i, 0]).min() for i in inner) + 0.3
    between = np.nonzero((np.abs(v[:, 0]) < half) & (v[:, 1] > lo_y) & (v[:, 1] < hi_y) & front)[0]
    r["eye_region"] = np.union1d(np.union1d(r["left_eye_region"], r["right_eye_region"]), between)
    brow_top = max(v[a.brows["left"], 1].max(), v[a.brows["right"], 1].max())
    r["forehead"] = np.setdiff1d(np.nonzero(v[:, 1] > brow_top + 0.2)[0], r["eye_region"])
    nose_core = np.nonzero(_inside(v[_hull_order(v, a.nose), :2], xy) & front)[0]
    r["nose"] = grow(f, n, np.union1d(nose_core, a.nose), 1)
    r["nose"] = np.setdiff1d(r["nose"], np.union1d(r["lips"], r["eye_region"]))
    cheeks = []
    for s in (1, -1):
        c = a.nearest((s * 4.0, -1.5))
        cheeks.append(a.within([c], 3.4))
    r["left_cheek"], r["right_cheek"] = np.asarray(cheeks[0]), np.asarray(cheeks[1])
    r["cheeks"] = np.setdiff1d(np.union1d(*cheeks), np.union1d(r["lips"], r["eye_region"]))
    nose_base = v[SUBNASALE, 1]
    r["lower_face"] = np.nonzero(v[:, 1] < nose_base - 0.2)[0]
    r["chin"] = np.setdiff1d(np.nonzero((v[:, 1] < v[a.lips["lower_outer"], 1].min() - 0.8) & (np.abs(v[:, 0]) < 3.5))[0], r["mouth"])
    r["face"] = np.arange(n)
    return {k: np.asarray(sorted(set(np.asarray(x).tolist())), dtype=np.int32) for k, x in r.items()}


def _hull_order(v: np.ndarray, idx) -> list[int]:
    from scipy.spatial import ConvexHull

    idx = np.asarray(idx)
    h = ConvexHull(v[idx, :2])
    return idx[h.vertices].tolist()
