"""Build the bundled demo head: a small FLAME-format model made from the MediaPipe canonical mesh.

It is NOT FLAME. Template: the 468-vertex canonical face mesh inside ``face_landmarker.task``
(Apache-2.0), converted from centimetres to metres. Added here:

- a procedural shape basis (smooth global and regional deformations: face width/height/depth,
  jaw width, chin, nose, eyes, cheeks, brow ridge, mouth, plus smooth random fields),
  orthonormalised and scaled so that coefficient 1.0 is a plausible 1-sigma variation
  (a few millimetres, decreasing with the index, like a PCA basis);
- the template's midline inner-lip points (MediaPipe 13 above 14) level in x and depth: the
  canonical mesh has the upper one 1.9 mm behind the lower one, which no frontal image shows,
  while a closed mouth has the lips meeting. The least change within the shape basis that
  levels them (every inner-lip gap kept) is added to the template, so the model's mean face is
  the one the generated corpus's actors share (docs/fitting.md, "Accuracy");
- named expression components (``_expressions.py``), value 1.0 = full strength;
- the five FLAME joints (root, neck, jaw, left eye, right eye) regressed from vertices, the jaw
  placed near the condyles in front of the ears, and smooth skinning weights (lower lip, chin
  and jaw line follow the jaw; the upper lip and everything above do not);
- zero pose correctives, regions, face groups closing the mouth and eyes, the ``mediapipe``
  (identity, 468 points) and ``ibug68`` landmark embeddings, UVs.

``python -m tools.demo_head.build`` writes it to ``emoface/morphable/assets/demo_head.npz``
(deterministic, byte-identical on reruns); the runtime only loads that file. This builder
is a tool of the repository and does not ship.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

import emoface.morphable
from emoface.morphable.landmarks import identity_embedding, vertex_embedding
from emoface.morphable.lips import lip_profile_constraints
from emoface.morphable.mediapipe_indices import MEDIAPIPE_TO_IBUG68
from emoface.morphable.model import MorphableModel, save_npz

from ._anatomy import Anatomy, build_anatomy
from ._expressions import build_expressions
from ._geometry import graph_distance, harmonic_fill, smoothstep, vertex_normals
from .canonical_mesh import load_canonical_mesh

__all__ = ["build_demo_head", "level_lips", "ASSET", "DEMO_VERSION", "N_SHAPE"]

DEMO_VERSION = "2"  # 2: midline inner lips level in depth
N_SHAPE = 30
CM = 0.01  # centimetres -> metres
SEED = 20240821
ASSET = Path(emoface.morphable.__file__).resolve().parent / "assets" / "demo_head.npz"  # what the runtime loads

# Joint targets in the canonical mesh's centimetres (x left, y up, z out of the face).
JOINT_TARGETS = {
    "root": (0.0, -7.0, -1.8),
    "neck": (0.0, -2.0, -2.0),
    "jaw": (0.0, 0.4, -2.2),  # between the condyles, just in front of the ears
    "left_eye": (3.2, 2.65, 2.6),  # eyeball centres, ~1.2 cm behind the lids
    "right_eye": (-3.2, 2.65, 2.6),
}
PARENTS = np.array([-1, 0, 1, 1, 1])


def _regressor(v: np.ndarray, mirror: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Sparse non-negative vertex weights summing to 1 whose combination is closest to ``target``."""
    cand = np.arange(len(v))
    lam = 10.0
    A = np.vstack([v[cand].T, lam * np.ones((1, len(cand)))])
    b = np.concatenate([target, [lam]])
    w, _ = nnls(A, b)
    full = np.zeros(len(v))
    full[cand] = w
    if abs(target[0]) < 1e-9:  # midline joints: symmetric weights
        full = 0.5 * (full + full[mirror])
    return full / full.sum()


def _skeleton(a: Anatomy) -> np.ndarray:
    v = a.vertices
    rows = [_regressor(v, a.mirror, np.asarray(JOINT_TARGETS[n], dtype=np.float64)) for n in JOINT_TARGETS]
    J = np.stack(rows)
    # eyes: mirror each other exactly
    J[4] = J[3][a.mirror]
    return J


def _jaw_weights(a: Anatomy) -> np.ndarray:
    """Jaw skinning weight per vertex: 1 on the lower lip/chin/jaw line, 0 from the upper lip up."""
    v = a.vertices
    ones = set(a.lips["lower_outer"][1:-1]) | set(a.lips["lower_inner"][1:-1])
    ones |= set(np.nonzero(v[:, 1] < -6.3)[0].tolist())
    zeros = set(a.lips["upper_outer"][1:-1]) | set(a.lips["upper_inner"][1:-1])
    zeros |= set(np.nonzero(v[:, 1] > -2.3)[0].tolist())
    # the rest of the lips: above the mouth line with the upper lip, below it with the jaw
    def inner_lip_y(path: list[int], x: float) -> float:
        order = np.argsort(v[path, 0])
        return float(np.interp(x, v[path, 0][order], v[path, 1][order]))

    corner_x = abs(v[a.lips["upper_outer"][0], 0])
    for i in a.regions["lips"]:
        if abs(v[i, 0]) < 0.85 * corner_x:
            x = v[i, 0]
            mouth_y = 0.5 * (inner_lip_y(a.lips["upper_inner"], x) + inner_lip_y(a.lips["lower_inner"], x))
            (zeros if v[i, 1] > mouth_y else ones).add(int(i))
    known = np.array(sorted(ones | zeros))
    vals = np.array([1.0 if i in ones else 0.0 for i in known])
    w = harmonic_fill(v, a.cut_faces, known, vals)
    w = smoothstep(np.clip(w, 0.0, 1.0), 0.0, 1.0)  # flatter near 0 and 1
    w = 0.5 * (w + w[a.mirror])
    w[w < 1e-3] = 0.0  # exact zeros: vertices above the mouth never move with the jaw
    w[w > 1.0 - 1e-3] = 1.0
    return w


def _weights(a: Anatomy) -> np.ndarray:
    wj = _jaw_weights(a)
    W = np.zeros((len(a.vertices), 5))
    W[:, 1] = 1.0 - wj  # head (neck joint) - the demo head has no neck vertices
    W[:, 2] = wj
    return W  # the eye joints drive no vertices: the demo head has no eyeballs


def _gauss(a: Anatomy, centre_xy, sigma: float) -> np.ndarray:
    d = graph_distance(a.vertices, a.cut_faces, [a.nearest(centre_xy)])
    return np.exp(-0.5 * (d / sigma) ** 2)


def _shape_fields(a: Anatomy) -> list[np.ndarray]:
    """Named smooth deformations (cm, unnormalised) then smooth random fields."""
    v = a.vertices
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    nrm = vertex_normals(v, a.faces)
    zero = np.zeros_like(x)
    lower = smoothstep(y, -1.0, -5.0)
    chin = _gauss(a, (0.0, -8.5), 2.5)
    nose_tip = _gauss(a, (0.0, -0.5), 1.2)
    nose = _gauss(a, (0.0, -1.5), 1.6)
    bridge = _gauss(a, (0.0, 2.2), 1.3)
    eyes = _gauss(a, (3.2, 2.6), 1.6) + _gauss(a, (-3.2, 2.6), 1.6)
    cheeks = _gauss(a, (4.3, -2.0), 2.0) + _gauss(a, (-4.3, -2.0), 2.0)
    zyg = _gauss(a, (5.5, 1.0), 1.8) + _gauss(a, (-5.5, 1.0), 1.8)
    brows = _gauss(a, (3.5, 5.0), 1.8) + _gauss(a, (-3.5, 5.0), 1.8)
    mouth = _gauss(a, (0.0, -4.2), 2.0)
    upper_lip = np.isin(np.arange(len(v)), a.regions["lips"]) * (y > v[13, 1])
    lower_lip = np.isin(np.arange(len(v)), a.regions["lips"]) * (y < v[14, 1])
    fields = [
        np.stack([0.06 * x, zero, zero], 1),  # face width
        np.stack([zero, 0.05 * (y - y.mean()), zero], 1),  # face height
        np.stack([zero, zero, 0.06 * (z - z.mean())], 1),  # face depth
        np.stack([0.08 * x * lower, zero, zero], 1),  # jaw width
        np.stack([zero, -0.4 * chin, 0.1 * chin], 1),  # chin length
        np.stack([zero, zero, 0.35 * chin], 1),  # chin protrusion
        np.stack([zero, -0.1 * nose_tip, 0.35 * nose_tip], 1),  # nose length
        np.stack([0.12 * x * nose, zero, zero], 1),  # nose width
        np.stack([zero, zero, 0.25 * bridge], 1),  # nose bridge height
        np.stack([0.25 * np.sign(x) * eyes, zero, zero], 1),  # eye spacing
        np.stack([zero, 0.2 * eyes, -0.05 * eyes], 1),  # eye height
        0.3 * cheeks[:, None] * nrm,  # cheek fullness
        np.stack([0.2 * np.sign(x) * zyg, 0.05 * zyg, zero], 1),  # cheekbones
        np.stack([zero, zero, 0.25 * brows], 1),  # brow ridge
        np.stack([zero, zero, 0.3 * smoothstep(y, 4.0, 8.0)], 1),  # forehead slope
        np.stack([0.1 * x * mouth, zero, zero], 1),  # mouth width
        np.stack([zero, 0.12 * upper_lip - 0.12 * lower_lip, 0.05 * (upper_lip + lower_lip)], 1),  # lip fullness
        np.stack([zero, 0.3 * mouth, zero], 1),  # mouth height
        np.stack([zero, 0.05 * (y - v[2, 1]) * lower, zero], 1),  # lower-face length
    ]
    rng = np.random.default_rng(SEED)
    for k in range(N_SHAPE - len(fields)):
        field = np.zeros_like(v)
        for _ in range(4):  # a few smooth bumps, symmetric or antisymmetric pairs
            c = rng.integers(len(v))
            sig = rng.uniform(1.5, 3.5)
            g = np.exp(-0.5 * (graph_distance(v, a.cut_faces, [c]) / sig) ** 2)
            vec = rng.normal(size=3)
            field += g[:, None] * vec
            sign = 1.0 if k % 2 == 0 else -1.0
            field += sign * (g[a.mirror][:, None] * (vec * np.array([-1.0, 1.0, 1.0])))
        fields.append(field)
    return fields


def _shape_basis(a: Anatomy) -> np.ndarray:
    """Orthonormalised fields, scaled to a largest displacement of 6 mm * 0.94^k (>= 2 mm); cm."""
    fields = _shape_fields(a)
    basis = []
    for f in fields:
        g = f.reshape(-1).astype(np.float64)
        for b in basis:
            g = g - (g @ b) * b
        basis.append(g / np.linalg.norm(g))
    out = []
    for k, b in enumerate(basis):
        max_mm = max(6.0 * 0.94**k, 2.0)
        d = b.reshape(-1, 3)
        d = d / np.linalg.norm(d, axis=1).max() * (max_mm / 10.0)
        out.append(d)
    return np.stack(out, axis=-1)


def level_lips(vertices: np.ndarray, shapedirs: np.ndarray) -> np.ndarray:
    """Shape coefficients ``(S,)``: the least change (minimum norm) that meets
    :func:`lip_profile_constraints` (midline inner lips level, every inner-lip gap kept)."""
    rows, target = lip_profile_constraints(vertices, shapedirs)
    return np.linalg.lstsq(rows, target, rcond=None)[0]


def build_demo_head() -> MorphableModel:
    """The demo head as a :class:`MorphableModel` (metres, float32)."""
    mesh = load_canonical_mesh()
    a = build_anatomy(mesh.vertices, mesh.faces)
    names, exprdirs, claims = build_expressions(a)
    shapedirs = _shape_basis(a)
    template = a.vertices + shapedirs @ level_lips(a.vertices, shapedirs)
    J = _skeleton(a)
    W = _weights(a)
    V = len(a.vertices)
    embeddings = {
        "mediapipe": identity_embedding(a.faces, V),
        "ibug68": vertex_embedding(a.faces, MEDIAPIPE_TO_IBUG68, np.arange(68)),
    }
    return MorphableModel(
        name="demo-head",
        kind="demo",
        v_template=template * CM,
        faces=a.faces,
        shapedirs=shapedirs * CM,
        exprdirs=exprdirs * CM,
        posedirs=np.zeros((V, 3, 36)),
        J_regressor=J,
        lbs_weights=W,
        parents=PARENTS,
        regions=dict(a.regions),
        landmark_embeddings=embeddings,
        expression_names=names,
        expression_regions=claims,
        face_groups=dict(a.interior),
        uv=mesh.uv,
        metadata={
            "description": "EmoFace demo head: MediaPipe canonical face mesh with procedural bases. NOT FLAME.",
            "not_flame": "true",
            "source": "MediaPipe canonical face mesh from face_landmarker.task (Apache-2.0, Google)",
            "units": "metres",
            "builder": "tools.demo_head.build",
            "version": DEMO_VERSION,
            "joints": "root,neck,jaw,left_eye,right_eye (eye joints drive no vertices: no eyeballs)",
            "sides": "left/right are the subject's own; +x is the subject's left",
            "expression_units": "1.0 = full-strength expression; jaw opening is the jaw joint (radians)",
            "shape_units": "coefficient 1.0 = about one standard deviation (largest displacement 6 mm for the first, decreasing to 2 mm)",
        },
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the bundled demo head (FLAME-format npz; not FLAME).")
    ap.add_argument("--out", type=Path, default=ASSET)
    args = ap.parse_args(argv)
    model = build_demo_head()
    save_npz(model, args.out)
    print(f"wrote {args.out}: {model.n_vertices} vertices, {len(model.faces)} faces, "
          f"{model.n_shape} shape + {model.n_expr} expression components")  # fmt: skip


if __name__ == "__main__":
    main()
