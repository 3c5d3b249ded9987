"""The demo head's named expression components (FACS-like), built on the canonical mesh.

Each component is a displacement field ``(V, 3)`` in centimetres at value 1.0 (a full-strength
expression). It is defined by a few handle displacements on anatomical contours (lip lines,
lid margins, brows, cheek apples) and spread over the skin by biharmonic interpolation on
the mesh *with the mouth and eye openings cut open*, so that the upper and lower lips (and
lids) move independently. Jaw opening is not a component: it is the jaw joint's rotation.

Sizes (at 1.0) follow typical facial-action amplitudes: lip corners ~8 mm for a smile,
brows ~8 mm for a raise, the upper lid travels to the lower lid for a closed eye.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._anatomy import Anatomy
from ._geometry import biharmonic_fill, graph_distance, smoothstep, vertex_normals
from emoface.morphable.mediapipe_indices import LOWER_LIP_MID, UPPER_LIP_MID

__all__ = ["EXPRESSIONS", "build_expressions"]


def _deform(a: Anatomy, handles: dict[int, np.ndarray], support: float, keep=()) -> np.ndarray:
    """Biharmonic spread of ``handles`` (cm) over the skin within ``support`` cm (surface distance)."""
    d = graph_distance(a.vertices, a.cut_faces, list(handles))
    fixed = np.union1d(np.nonzero(d > support)[0], np.asarray(list(keep), dtype=np.int64))
    fixed = np.setdiff1d(fixed, list(handles))
    return biharmonic_fill(a.vertices, a.cut_faces, handles, fixed)


def _lip_t(a: Anatomy, idx: int) -> float:
    """Position along the mouth: -1 at the right corner, 0 at the midline, +1 at the left corner."""
    return float(np.clip(a.vertices[idx, 0] / a.vertices[291, 0], -1.0, 1.0))


def _lip_handles(a: Anatomy, fn: Callable[[str, int, float], np.ndarray], parts=None) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for part in parts or a.lips:
        for i in a.lips[part]:
            out[i] = np.asarray(fn(part, i, _lip_t(a, i)), dtype=np.float64)
    return out


def _bump(t: float, width: float = 1.0) -> float:
    """1 in the middle of the mouth, 0 at the corners, smooth."""
    return float(np.clip(1.0 - (abs(t) / width) ** 2, 0.0, 1.0))


def _gauss_handles(a: Anatomy, centre: int, radius: float, vec: np.ndarray, normal: float = 0.0) -> dict[int, np.ndarray]:
    d = graph_distance(a.vertices, a.cut_faces, [centre])
    nrm = vertex_normals(a.vertices, a.cut_faces)
    out = {}
    for i in np.nonzero(d <= radius)[0]:
        w = float(np.exp(-0.5 * (d[i] / (0.5 * radius)) ** 2))
        out[int(i)] = w * (np.asarray(vec, dtype=np.float64) + normal * nrm[i])
    return out


def _cheek_apple(a: Anatomy, s: int) -> int:
    return a.nearest((s * 3.7, -0.9))


# --- the components ------------------------------------------------------------------------


def lip_pucker(a: Anatomy) -> np.ndarray:
    """Lips pushed forward and gathered towards the midline (AU18)."""
    h = _lip_handles(a, lambda p, i, t: (-0.30 * a.vertices[i, 0], 0.0, 0.25 + 0.35 * _bump(t)))
    return _deform(a, h, 3.0)


def lip_funnel(a: Anatomy) -> np.ndarray:
    """Lips flared forward and parted into a rounded opening (AU22, 'oo'/'sh')."""

    def fn(p, i, t):
        up = 1.0 if p.startswith("upper") else -1.0
        opening = 0.22 if p.endswith("inner") else 0.16
        return (-0.18 * a.vertices[i, 0], up * opening * _bump(t, 1.1), 0.2 + 0.3 * _bump(t))

    return _deform(a, _lip_handles(a, fn), 3.0)


def lip_stretch(a: Anatomy) -> np.ndarray:
    """Mouth corners pulled straight out to the sides, lips flattened (AU20)."""

    def fn(p, i, t):
        w = abs(t) ** 1.5
        flat = -0.05 if p.startswith("upper") else 0.05
        return (0.6 * np.sign(t) * w, flat * _bump(t), -0.22 * w)

    return _deform(a, _lip_handles(a, fn), 3.5)


def lip_press(a: Anatomy) -> np.ndarray:
    """Lips pressed together and thinned (AU24); the parted inner lips meet."""
    gap = a.vertices[UPPER_LIP_MID, 1] - a.vertices[LOWER_LIP_MID, 1]

    def fn(p, i, t):
        up = -1.0 if p.startswith("upper") else 1.0
        b = np.sqrt(_bump(t, 1.05))
        if p.endswith("inner"):
            return (0.0, up * 0.5 * gap * b, -0.08 * b)
        return (0.0, up * 0.2 * b, -0.1 * b)

    return _deform(a, _lip_handles(a, fn), 2.0)


def upper_lip_raise(a: Anatomy) -> np.ndarray:
    """Upper lip lifted, showing the upper teeth (AU10)."""
    h = _lip_handles(a, lambda p, i, t: (0.0, (0.5 if p.endswith("inner") else 0.42) * _bump(t, 1.1) ** 0.7, 0.08 * _bump(t)),
                     parts=("upper_outer", "upper_inner"))  # fmt: skip
    for s in (1, -1):  # nostril wings follow a little
        h[a.nearest((s * 1.25, -1.9))] = np.array([0.0, 0.12, 0.0])
    keep = np.union1d(a.lips["lower_outer"], a.lips["lower_inner"])
    return _deform(a, h, 3.0, keep)


def lower_lip_depress(a: Anatomy) -> np.ndarray:
    """Lower lip pulled down and slightly everted, showing the lower teeth (AU16)."""
    h = _lip_handles(a, lambda p, i, t: (0.0, -(0.5 if p.endswith("inner") else 0.42) * _bump(t, 1.1) ** 0.7, 0.1 * _bump(t)),
                     parts=("lower_outer", "lower_inner"))  # fmt: skip
    keep = np.union1d(a.lips["upper_outer"], a.lips["upper_inner"])
    return _deform(a, h, 3.0, keep)


def _smile(a: Anatomy, s: int) -> np.ndarray:
    corner = np.array([0.42 * s, 0.62, -0.28])

    def fn(p, i, t):
        w = np.clip(s * t, 0.0, 1.0) ** 2
        return w * corner

    h = _lip_handles(a, fn)
    h.update(_gauss_handles(a, _cheek_apple(a, s), 1.2, np.array([0.05 * s, 0.25, 0.12])))
    return _deform(a, h, 4.0)


def smile_left(a: Anatomy) -> np.ndarray:
    """Left mouth corner pulled up and out, left cheek lifted (AU12, subject's left)."""
    return _smile(a, 1)


def smile_right(a: Anatomy) -> np.ndarray:
    """Right mouth corner pulled up and out, right cheek lifted (AU12, subject's right)."""
    return _smile(a, -1)


def frown(a: Anatomy) -> np.ndarray:
    """Both mouth corners pulled down (AU15)."""
    h = _lip_handles(a, lambda p, i, t: abs(t) ** 1.5 * np.array([0.1 * np.sign(t), -0.6, -0.06]))
    return _deform(a, h, 3.5)


def mouth_shift_left(a: Anatomy) -> np.ndarray:
    """Whole mouth shifted towards the subject's left (negative values: to the right)."""
    h = _lip_handles(a, lambda p, i, t: (0.45, 0.0, -0.12 * t))
    return _deform(a, h, 3.0)


def chin_raise(a: Anatomy) -> np.ndarray:
    """Chin boss pushed up, lower lip raised and pouted (AU17)."""
    h = _lip_handles(a, lambda p, i, t: (0.0, 0.12 * _bump(t), 0.15 * _bump(t)), parts=("lower_outer", "lower_inner"))
    chin = a.nearest((0.0, -7.6))
    h.update(_gauss_handles(a, chin, 1.6, np.array([0.0, 0.28, 0.12])))
    keep = np.union1d(a.lips["upper_outer"], a.lips["upper_inner"])
    return _deform(a, h, 3.5, keep)


def cheek_puff(a: Anatomy) -> np.ndarray:
    """Both cheeks blown out (AU34)."""
    h = {}
    for s in (1, -1):
        h.update(_gauss_handles(a, a.nearest((s * 4.3, -3.3)), 2.0, np.zeros(3), normal=0.5))
    return _deform(a, h, 3.5, a.lip_ring)


def cheek_raise(a: Anatomy) -> np.ndarray:
    """Cheeks lifted and lower lids pushed up, the eyes narrow (AU6)."""
    h = {}
    for s, side in ((1, "left"), (-1, "right")):
        h.update(_gauss_handles(a, _cheek_apple(a, s), 1.5, np.array([0.0, 0.35, 0.12])))
        low = a.eyes[side]["lower"]
        for i in low[1:-1]:
            h[i] = np.array([0.0, 0.14, 0.02])
    keep = np.concatenate([a.eyes["left"]["upper"], a.eyes["right"]["upper"]])
    return _deform(a, h, 3.5, keep)


def nose_wrinkle(a: Anatomy) -> np.ndarray:
    """Nose sides and wings pulled up, skin between the brows down (AU9)."""
    h = {}
    for s in (1, -1):
        h[a.nearest((s * 1.25, -1.9))] = np.array([0.0, 0.25, 0.0])  # nostril wing
        h[a.nearest((s * 1.1, 0.3))] = np.array([0.0, 0.22, 0.05])  # nose side
        h[a.nearest((s * 0.8, 1.6))] = np.array([0.0, 0.12, 0.03])
    h[a.nearest((0.0, 3.6))] = np.array([0.0, -0.12, 0.0])  # glabella
    h[int(a.lips["upper_outer"][len(a.lips["upper_outer"]) // 2])] = np.array([0.0, 0.08, 0.0])
    return _deform(a, h, 2.5, np.concatenate([a.eyes["left"]["contour"], a.eyes["right"]["contour"]]))


def _brow_handles(a: Anatomy, fn: Callable[[int, float], np.ndarray]) -> dict[int, np.ndarray]:
    h = {}
    for side, s in (("left", 1), ("right", -1)):
        xs = a.vertices[a.brows[side], 0] * s
        for i, x in zip(a.brows[side], xs):
            inner = float(smoothstep(x, xs.max(), xs.min()))  # 1 at the inner end, 0 at the outer end
            h[int(i)] = np.asarray(fn(s, inner), dtype=np.float64)
    return h


def _eyes(a: Anatomy) -> np.ndarray:
    return np.concatenate([a.eyes["left"]["contour"], a.eyes["right"]["contour"]])


def _hairline(a: Anatomy) -> np.ndarray:
    """The top of the face outline: the forehead skin compresses below it rather than sliding."""
    oval = np.asarray(a.oval)
    return oval[a.vertices[oval, 1] > a.vertices[a.brows["left"], 1].max() + 1.5]


def brow_raise(a: Anatomy) -> np.ndarray:
    """Whole brows lifted, forehead compressed (AU1+2)."""
    h = _brow_handles(a, lambda s, inner: (0.0, 0.8, 0.05))
    return _deform(a, h, 6.0, np.concatenate([_eyes(a), _hairline(a)]))


def brow_inner_raise(a: Anatomy) -> np.ndarray:
    """Inner ends of the brows lifted (AU1; sadness, worry)."""
    h = _brow_handles(a, lambda s, inner: (-0.05 * s * inner, 0.05 + 0.6 * inner, 0.03))
    return _deform(a, h, 6.0, np.concatenate([_eyes(a), _hairline(a)]))


def brow_furrow(a: Anatomy) -> np.ndarray:
    """Brows lowered and drawn together (AU4)."""
    h = _brow_handles(a, lambda s, inner: (-0.25 * s * inner, -0.3 - 0.12 * inner, -0.04))
    return _deform(a, h, 4.0, _eyes(a))


def _lid_target(a: Anatomy, side: str, meet: float) -> dict[int, np.ndarray]:
    """Handles moving both lids of one eye to where they meet (``meet``: fraction of the gap from below)."""
    up, low = a.eyes[side]["upper"], a.eyes[side]["lower"]
    v = a.vertices

    def along(path: list[int], x: float) -> np.ndarray:
        px = v[path, 0]
        order = np.argsort(px)
        return np.array([np.interp(x, px[order], v[path, k][order]) for k in range(3)])

    h = {}
    for i in up[1:-1] + low[1:-1]:
        x = v[i, 0]
        u, l_ = along(up, x), along(low, x)
        m = l_ + meet * (u - l_)
        m[2] = max(u[2], l_[2]) + 0.05  # the closed lid bulges over the cornea
        h[int(i)] = m - v[i]
    for c in (up[0], up[-1]):
        h[int(c)] = np.zeros(3)
    return h


def _eyelid_close(a: Anatomy, side: str) -> np.ndarray:
    h = _lid_target(a, side, 0.2)
    return _deform(a, h, 1.6, a.brows[side])


def eyelid_close_left(a: Anatomy) -> np.ndarray:
    """Left eye closed: the upper lid comes down to meet the lower lid (AU43, subject's left)."""
    return _eyelid_close(a, "left")


def eyelid_close_right(a: Anatomy) -> np.ndarray:
    """Right eye closed: the upper lid comes down to meet the lower lid (AU43, subject's right)."""
    return _eyelid_close(a, "right")


def eye_wide(a: Anatomy) -> np.ndarray:
    """Upper lids raised, eyes wide open (AU5)."""
    h = {}
    for side in ("left", "right"):
        up = a.eyes[side]["upper"]
        x0, x1 = a.vertices[up[0], 0], a.vertices[up[-1], 0]
        for i in up:
            t = (a.vertices[i, 0] - x0) / (x1 - x0)
            h[int(i)] = np.array([0.0, 0.24 * np.sin(np.pi * t), 0.03 * np.sin(np.pi * t)])
        for i in a.eyes[side]["lower"][1:-1]:
            h[int(i)] = np.zeros(3)
    return _deform(a, h, 1.6, np.concatenate([a.brows["left"], a.brows["right"]]))


# name -> (builder, region it mainly moves)
EXPRESSIONS: dict[str, tuple[Callable[[Anatomy], np.ndarray], str]] = {
    "lip_pucker": (lip_pucker, "mouth"),
    "lip_funnel": (lip_funnel, "mouth"),
    "lip_stretch": (lip_stretch, "mouth"),
    "lip_press": (lip_press, "mouth"),
    "upper_lip_raise": (upper_lip_raise, "mouth"),
    "lower_lip_depress": (lower_lip_depress, "mouth"),
    "smile_left": (smile_left, "lower_face"),
    "smile_right": (smile_right, "lower_face"),
    "frown": (frown, "mouth"),
    "mouth_shift_left": (mouth_shift_left, "mouth"),
    "chin_raise": (chin_raise, "lower_face"),
    "cheek_puff": (cheek_puff, "cheeks"),
    "cheek_raise": (cheek_raise, "cheeks+eye_region"),
    "nose_wrinkle": (nose_wrinkle, "nose"),
    "brow_raise": (brow_raise, "eve"),
    "brow_inner_raise": (brow_inner_raise, "eve"),
    "brow_furrow": (brow_furrow, "eve"),
    "eyelid_close_left": (eyelid_close_left, "left_eye_region"),
    "eyelid_close_right": (eyelid_close_right, "right_eye_region"),
    "eye_wide": (eye_wide, "eye_region"),
}


def build_expressions(a: Anatomy) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """Names, displacement fields ``(V, 3, E)`` in cm, and the region each component claims."""
    names = list(EXPRESSIONS)
    dirs = np.stack([EXPRESSIONS[n][0](a) for n in names], axis=-1)
    return names, dirs, {n: EXPRESSIONS[n][1] for n in names}
