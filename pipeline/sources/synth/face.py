"""Render a moving 3D face back into an actor's portrait by per-triangle texture warping.

An actor's :class:`FaceRig` ties three things together:

- the photo's texture: each of the 468 mesh vertices has a texture position, the photo's own
  landmark moved into the portrait by the similarity that best aligns it with the actor's
  rest face (:func:`pipeline.sources.synth.photo.similarity_to`);
- the demo head: per frame, front-facing vertices ``(468, 3)`` in metres, a head rotation and
  translation (``X_cam = R @ X + t``) and the pinhole camera (OpenGL convention,
  docs/architecture.md) give the vertices' pixel positions;
- two rings of control points around the face oval so the warp continues smoothly into hair,
  ears and neck: the inner ring moves rigidly with the head (and partly with the jaw), the
  outer ring is fixed; outside it the portrait stays still.

Per frame, triangle ids are rasterised back to front (rings, the triangles closing the mouth,
eye openings, then the face by depth), the backward map (on 2 x 2 blocks, interpolated) samples
the portrait once (:mod:`.warp`), and inside the inner-lip polygon the mouth interior is
painted: a dark cavity, a tongue, and upper and lower teeth placed in 3D (the upper teeth fixed
to the skull, the lower teeth rotating with the jaw joint), fading in as the lips part. The
photo's own mouth opening is darkened in the portrait, so that closed lips meet on a dark line.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from emoface.mesh.camera import PinholeCamera, axis_angle_to_matrix, project
from emoface.morphable.mediapipe_indices import (INNER_LIP_LOOP, INNER_LIP_LOWER, INNER_LIP_PAIRS,
                                                  INNER_LIP_UPPER, LEFT_EYE, LOWER_LIP_MID, OUTER_LIP_LOOP,
                                                  RIGHT_EYE, UPPER_LIP_MID)
from pipeline.sources.synth.photo import Look, PhotoFace, compose_portrait, similarity_to
from pipeline.sources.synth.warp import Region, warp_backward_map

__all__ = [
    "INNER_LIP_UPPER", "INNER_LIP_LOWER", "INNER_LIP_LOOP", "RIGHT_EYE", "LEFT_EYE", "face_oval", "RigConfig", "FaceRig",
]



def face_oval(faces: np.ndarray) -> np.ndarray:
    """The mesh's outer boundary loop (the face oval), ordered, starting at the forehead top (10)."""
    from collections import Counter, defaultdict

    count: Counter = Counter()
    for a, b, c in faces.tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            count[(min(u, v), max(u, v))] += 1
    adj: dict[int, list[int]] = defaultdict(list)
    for (u, v), n in count.items():
        if n == 1:
            adj[u].append(v)
            adj[v].append(u)
    start = 10 if 10 in adj else min(adj)
    loop, prev, cur = [start], -1, start
    while True:
        nxt = [n for n in adj[cur] if n != prev]
        if not nxt or nxt[0] == start:
            break
        prev, cur = cur, nxt[0]
        loop.append(cur)
    return np.asarray(loop, dtype=np.int64)


def _interior(faces: np.ndarray, loop) -> np.ndarray:
    """Indices of faces whose three vertices all lie on ``loop`` (they close an opening)."""
    s = np.zeros(faces.max() + 1, bool)
    s[list(loop)] = True
    return np.nonzero(s[faces].all(axis=1))[0]


@dataclass(frozen=True)
class RigConfig:
    """Rig geometry: ring scales around the oval centre (inner moves with the head, outer is
    fixed), how much the inner ring follows the face below/above the mouth, the mouth interior
    (metres) and its colours; ``map_step`` 2 computes the warp's backward map on 2 x 2 blocks
    (see :func:`~pipeline.sources.synth.warp.warp_backward_map`), 1 at every pixel."""

    inner_ring: float = 1.35
    outer_ring: float = 1.7
    hair_lift: float = 0.025
    follow_lower: float = 0.55
    follow_upper: float = 0.2
    teeth_behind_lip: float = 0.005
    teeth_height: float = 0.011
    map_step: int = 2
    cavity: tuple[int, int, int] = (48, 16, 20)
    tongue: tuple[int, int, int] = (168, 78, 84)
    teeth: tuple[int, int, int] = (212, 204, 188)


@dataclass
class _Points:
    """Projected control points of one frame."""

    pix: np.ndarray  # (P, 2) all control points
    depth: np.ndarray  # (468,) camera-space z of the mesh vertices
    upper_teeth: np.ndarray  # (2K, 2) polygon
    lower_teeth: np.ndarray  # (2K, 2)
    tongue: np.ndarray  # (3, 2): centre, right point, lower point


class FaceRig:
    """An actor's portrait with a registered, animatable face.

    Args:
        photo: the registered photo; ``look``: the actor's appearance.
        faces: ``(F, 3)`` mesh triangles (the demo head's, 468 vertices).
        rest_vertices: ``(468, 3)`` front-facing rest vertices of the actor (metres).
        rest_rotation, rest_translation: the actor's mean head pose (axis-angle, metres).
        jaw_joint: ``(3,)`` the jaw joint of the actor's head (metres, front-facing).
        camera: the video's camera.
    """

    def __init__(
        self,
        photo: PhotoFace,
        look: Look,
        faces: np.ndarray,
        rest_vertices: np.ndarray,
        rest_rotation: np.ndarray,
        rest_translation: np.ndarray,
        jaw_joint: np.ndarray,
        camera: PinholeCamera,
        cfg: RigConfig = RigConfig(),
    ) -> None:
        self.cfg = cfg
        self.camera = camera
        self.rest = np.asarray(rest_vertices, np.float64)
        self.jaw_joint = np.asarray(jaw_joint, np.float64)
        self.n_mesh = self.rest.shape[0]
        self.oval = face_oval(faces)
        mouth = _interior(faces, INNER_LIP_LOOP)
        eyes = np.concatenate([_interior(faces, RIGHT_EYE), _interior(faces, LEFT_EYE)])
        hidden = set(mouth.tolist()) | set(eyes.tolist())
        keep = np.array([i for i in range(len(faces)) if i not in hidden], dtype=np.int64)
        self._build_rings()
        self._build_teeth()
        rest_pix = self._project(self.rest[None], np.asarray(rest_rotation)[None], np.asarray(rest_translation)[None])
        ring_pix = rest_pix[0, self.n_mesh :]
        # texture: the photo placed so that its landmarks best match the rest face
        self.photo_to_frame = similarity_to(photo.landmarks, rest_pix[0, : self.n_mesh])
        lm = photo.landmarks @ self.photo_to_frame[:, :2].T + self.photo_to_frame[:, 2]
        self.src = np.concatenate([lm, ring_pix[: 2 * len(self.oval)]]).astype(np.float32)
        self.portrait = compose_portrait(photo, look, self.photo_to_frame, camera.width, camera.height)
        # the detector puts the photo's inner-lip points on the lips, a little outside the visible
        # opening: keep that band of lip texture inside the contour (frame pixels per pair)
        loop = {v: i for i, v in enumerate(INNER_LIP_LOOP)}
        self._pair_u = np.array([loop[u] for u, _ in INNER_LIP_PAIRS])
        self._pair_l = np.array([loop[lo] for _, lo in INNER_LIP_PAIRS])
        self.lip_margin = lip_margins(photo.image, photo.landmarks) * float(np.hypot(*self.photo_to_frame[:, 0]))
        # the photo's own visible opening (teeth of a smile) becomes a dark cavity: the
        # mouth-closing triangles sample it, so closed lips meet on a thin dark seam; nothing
        # outside it is darkened (a dark lip edge reads as a parted mouth)
        dark = np.zeros(self.portrait.shape[:2], np.float32)
        cv2.fillPoly(dark, [np.round(self.opening(lm) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        dark = cv2.GaussianBlur(dark, (0, 0), 0.7)[..., None]
        cavity = np.asarray(cfg.cavity, np.float32) * 0.8
        self.portrait = np.clip(self.portrait * (1.0 - dark) + cavity * dark, 0, 255).astype(np.uint8)
        self.outer_pix = ring_pix[len(self.oval) : 2 * len(self.oval)].astype(np.float32)
        # triangles: outer strip (outer ring - inner ring), inner strip (inner ring - oval), eyes, face
        n, k = self.n_mesh, len(self.oval)
        inner = n + np.arange(k)
        outer = n + k + np.arange(k)
        strips = []
        for a, b in ((outer, inner), (inner, self.oval)):
            for i in range(k):
                j = (i + 1) % k
                strips += [(a[i], a[j], b[i]), (a[j], b[j], b[i])]
        self.ring_tris = np.asarray(strips, dtype=np.int64)
        self.mouth_tris = np.asarray(faces[mouth], dtype=np.int64)
        self.eye_tris = np.asarray(faces[eyes], dtype=np.int64)
        self.face_tris = np.asarray(faces[keep], dtype=np.int64)
        # draw order: rings, mouth closure (painted over later), eye openings, then the face by depth
        self.triangles = np.concatenate([self.ring_tris, self.mouth_tris, self.eye_tris, self.face_tris])
        self._n_fixed = len(self.ring_tris) + len(self.mouth_tris) + len(self.eye_tris)
        r = Region.around(self.outer_pix, camera.width, camera.height, pad=2)
        x1, y1 = r.x1 + (r.x1 - r.x0) % 2, r.y1 + (r.y1 - r.y0) % 2  # even size for the 2 x 2 map
        if x1 > camera.width:
            x1 -= 2
        if y1 > camera.height:
            y1 -= 2
        self.region = Region(r.x0 - r.x0 % 2, r.y0 - r.y0 % 2, x1 - r.x0 % 2, y1 - r.y0 % 2)
        self._frame = self.portrait.copy()

    # ------------------------------------------------------------------ geometry
    def opening(self, pix: np.ndarray) -> np.ndarray:
        """The visible mouth opening ``(len(INNER_LIP_LOOP), 2)`` for vertex pixels ``pix (>= 468, 2)``:
        the inner-lip loop with each upper/lower pair moved towards each other by the lip margins
        (pairs closer than their margins meet: the lips look closed)."""
        loop = np.asarray(pix, np.float64)[list(INNER_LIP_LOOP)].copy()
        u, lo = loop[self._pair_u], loop[self._pair_l]
        d = lo - u
        g = np.linalg.norm(d, axis=1, keepdims=True)
        e = d / np.maximum(g, 1e-9)
        mu, ml = self.lip_margin[:, :1], self.lip_margin[:, 1:]
        f = np.minimum(1.0, g / np.maximum(mu + ml, 1e-9))
        loop[self._pair_u] = u + e * mu * f
        loop[self._pair_l] = lo - e * ml * f
        return loop

    def _build_rings(self) -> None:
        """Inner and outer rings (head coordinates) from the oval, pushed out from its centre."""
        ov = self.rest[self.oval]
        c = ov.mean(axis=0)
        cfg = self.cfg
        top = np.clip((ov[:, 1] - c[1]) / max(np.ptp(ov[:, 1]) / 2, 1e-6), 0.0, 1.0)
        rings = []
        for scale in (cfg.inner_ring, cfg.outer_ring):
            p = ov.copy()
            p[:, :2] = c[:2] + scale * (ov[:, :2] - c[:2])
            p[:, 1] += cfg.hair_lift * (scale - 1.0) / (cfg.inner_ring - 1.0) * top
            p[:, 2] = ov[:, 2] - 0.02 * (scale - 1.0)
            rings.append(p)
        self.rings_rest = np.concatenate(rings)  # (2K, 3)
        lower = ov[:, 1] < self.rest[14, 1]
        self.follow = np.where(lower, cfg.follow_lower, cfg.follow_upper)[:, None]

    def _build_teeth(self) -> None:
        """Teeth edges in head coordinates: upper fixed to the skull, lower on the jaw."""
        v = self.rest
        cfg = self.cfg
        upper = np.asarray(INNER_LIP_UPPER[1:-1])
        corner = max(abs(v[78, 0]), abs(v[308, 0]), 1e-4)
        edge_y = v[13, 1] - 0.0012
        pts = []
        for i in upper:
            x = 0.86 * v[i, 0]
            z = v[i, 2] - cfg.teeth_behind_lip - 0.012 * (v[i, 0] / corner) ** 2
            pts.append((x, edge_y, z))
        up = np.asarray(pts)
        lo = up.copy()
        lo[:, 0] *= 0.94
        lo[:, 1] -= 0.001
        lo[:, 2] -= 0.0015
        h = cfg.teeth_height
        self.upper_teeth_rest = np.concatenate([up, (up + [0, h, 0])[::-1]])
        self.lower_teeth_rest = np.concatenate([lo, (lo - [0, h, 0])[::-1]])
        mid = lo[len(lo) // 2]
        self.tongue_rest = np.array([mid + [0, -0.006, -0.008], mid + [0.6 * lo[-1, 0], -0.006, -0.01], mid + [0, -0.011, -0.008]])

    def _project(self, verts: np.ndarray, rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
        """Mesh + rings (rings at rest offsets) for ``(T, 468, 3)`` front-facing vertices -> ``(T, P, 2)`` pixels."""
        ring = np.broadcast_to(self.rings_rest, (verts.shape[0],) + self.rings_rest.shape)
        pts = np.concatenate([verts, ring], axis=1)
        return self._to_pixels(pts, rot, trans)[0]

    def _to_pixels(self, pts: np.ndarray, rot: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = torch.as_tensor(pts, dtype=torch.float64)
        r = axis_angle_to_matrix(torch.as_tensor(rot, dtype=torch.float64))
        cam = p @ r.transpose(-1, -2) + torch.as_tensor(trans, dtype=torch.float64)[:, None, :]
        return project(cam, self.camera).numpy(), cam[..., 2].numpy()

    def points(self, verts: np.ndarray, rot: np.ndarray, trans: np.ndarray, jaw: np.ndarray) -> list[_Points]:
        """Per-frame control points for ``verts (T, 468, 3)``, ``rot``/``trans``/``jaw (T, 3)``."""
        t = verts.shape[0]
        k = len(self.oval)
        disp = verts[:, self.oval] - self.rest[self.oval][None]
        inner = self.rings_rest[None, :k] + self.follow[None] * disp
        outer = np.broadcast_to(self.rings_rest[k:], (t, k, 3))
        rj = axis_angle_to_matrix(torch.as_tensor(jaw, dtype=torch.float64)).numpy()  # (T,3,3)
        jj = self.jaw_joint
        lower = np.einsum("tij,nj->tni", rj, self.lower_teeth_rest - jj) + jj
        tongue = np.einsum("tij,nj->tni", rj, self.tongue_rest - jj) + jj
        upper = np.broadcast_to(self.upper_teeth_rest, (t,) + self.upper_teeth_rest.shape)
        allp = np.concatenate([verts, inner, outer, upper, lower, tongue], axis=1)
        pix, depth = self._to_pixels(allp, rot, trans)
        n = self.n_mesh
        nu, nl = len(self.upper_teeth_rest), len(self.lower_teeth_rest)
        out = []
        for f in range(t):
            p = pix[f]
            ctrl = p[: n + 2 * k].copy()
            ctrl[n + k : n + 2 * k] = self.outer_pix  # the outer ring never moves
            s = n + 2 * k
            out.append(_Points(ctrl, depth[f, :n], p[s : s + nu], p[s + nu : s + nu + nl], p[s + nu + nl :]))
        return out

    # ------------------------------------------------------------------ rendering
    def render(self, pts: _Points) -> np.ndarray:
        """One frame ``(H, W, 3)`` uint8 (a view of an internal buffer: copy it to keep it)."""
        reg = self.region
        zf = pts.depth[self.face_tris].mean(axis=1)
        order = np.concatenate([np.arange(self._n_fixed), self._n_fixed + np.argsort(zf, kind="stable")])
        patch, _ = warp_backward_map(self.portrait, self.src, pts.pix, self.triangles, order, reg, step=self.cfg.map_step)
        # where the lips part, the mouth-closing triangles are replaced by the mouth interior
        lips = self.opening(pts.pix)
        lo = np.maximum(np.floor(lips.min(axis=0)).astype(int) - 3, [reg.x0, reg.y0])
        hi = np.minimum(np.ceil(lips.max(axis=0)).astype(int) + 4, [reg.x1, reg.y1])
        if (hi > lo).all():
            mouth = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)
            cv2.fillPoly(mouth, [np.round((lips - lo) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
            self._paint_mouth(patch, mouth, pts, lo, np.array([reg.x0, reg.y0]))
        self._frame[reg.slices] = patch
        return self._frame

    def _paint_mouth(self, patch: np.ndarray, mouth: np.ndarray, pts: _Points, corner: np.ndarray, region_origin: np.ndarray) -> None:
        """Paint the mouth interior into ``patch`` through ``mouth`` (uint8 anti-aliased coverage
        of a small box whose top-left pixel is ``corner``, in frame pixels)."""
        cfg = self.cfg
        x0, y0 = (corner - region_origin).astype(int)
        y1, x1 = y0 + mouth.shape[0], x0 + mouth.shape[1]
        o = corner.astype(np.float32)
        h, w = y1 - y0, x1 - x0
        canvas = np.empty((h, w, 3), np.float32)
        # cavity: darker towards the back (lower) part
        grad = np.linspace(1.0, 0.6, h, dtype=np.float32)[:, None, None]
        canvas[:] = np.asarray(cfg.cavity, np.float32) * grad

        def poly(p: np.ndarray, colour, shade: float = 1.0) -> None:
            q = np.round((p - o) * 16).astype(np.int32)
            cv2.fillPoly(canvas, [q], tuple(float(c) * shade for c in colour), cv2.LINE_AA, 4)

        c, r, lo = pts.tongue
        axes = (max(abs(r[0] - c[0]), 1.0), max(abs(lo[1] - c[1]) * 1.6, 1.0))
        cv2.ellipse(canvas, (int(round(c[0] - o[0])), int(round(c[1] - o[1]))), (int(round(axes[0])), int(round(axes[1]))), 0, 180, 360, cfg.tongue, -1, cv2.LINE_AA)
        cv2.ellipse(canvas, (int(round(c[0] - o[0])), int(round(c[1] - o[1]))), (int(round(axes[0])), int(round(axes[1] * 0.6))), 0, 0, 180, cfg.tongue, -1, cv2.LINE_AA)
        # teeth and tongue fade in as the lips part (a barely open mouth is a dark line)
        mid = self.opening(pts.pix)[[INNER_LIP_LOOP.index(UPPER_LIP_MID), INNER_LIP_LOOP.index(LOWER_LIP_MID)]]
        gap = float(np.linalg.norm(mid[0] - mid[1]))
        vis = float(np.clip((gap - 1.5) / 5.0, 0.0, 1.0))
        poly(pts.lower_teeth, cfg.teeth, 0.86)
        poly(pts.upper_teeth, cfg.teeth, 1.0)
        # gaps between incisors, shading toward the corners
        n = len(pts.upper_teeth) // 2
        for edge, top, shade in ((pts.upper_teeth[:n], pts.upper_teeth[n:][::-1], 0.55), (pts.lower_teeth[:n], pts.lower_teeth[n:][::-1], 0.5)):
            for i in (2, 3, 5, 6):
                a = np.round((edge[i] - o) * 16).astype(np.int32)
                b = np.round((top[i] - o) * 16).astype(np.int32)
                cv2.line(canvas, tuple(a.tolist()), tuple(b.tolist()), tuple(float(x) * shade for x in cfg.teeth), 1, cv2.LINE_AA, 4)
        xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :, None]
        canvas *= 1.0 - 0.45 * xx**2
        canvas = cv2.GaussianBlur(canvas, (3, 3), 0.7)
        if vis < 1.0:
            canvas = vis * canvas + (1.0 - vis) * np.asarray(cfg.cavity, np.float32) * 0.7
        alpha = cv2.GaussianBlur(mouth.astype(np.float32) / 255.0, (3, 3), 0.5)[..., None]
        view = patch[y0:y1, x0:x1].astype(np.float32)
        patch[y0:y1, x0:x1] = np.clip(view * (1.0 - alpha) + canvas * alpha, 0, 255).astype(np.uint8)


def lip_margins(image: np.ndarray, landmarks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """How far the lips' own texture reaches inside the detected inner-lip contour of a photo.

    For each of :data:`INNER_LIP_PAIRS`, the segment from the upper to the lower inner-lip landmark
    (extended by 2 px at both ends) is sampled every 1/8 px; a sample belongs to the visible
    opening when it is dark (lightness below 0.6 of the lips') or not red (CIE a* nearer the
    opening's than the lips'; teeth and the cavity are grey or dark, lips red). Lip colour is
    the median between the outer and the inner lip contours, the opening's the 20th percentile
    of a* inside the inner contour. Returns ``(P, 2)`` photo pixels ``[upper, lower]``: from each
    landmark to the first opening sample on its side, >= 0 and together at most the pair's
    distance (0 for a pair with no opening between them).

    Args: ``image (H, W, 3)`` uint8 RGB, ``landmarks (>= 468, 2)`` pixels.
    """
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    lmk = np.asarray(landmarks, np.float64)
    h, w = lab.shape[:2]

    def poly_mask(loop) -> np.ndarray:
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round(lmk[list(loop)] * 16).astype(np.int32)], 1, cv2.LINE_AA, 4)
        return m

    inner = poly_mask(INNER_LIP_LOOP)
    ring = (poly_mask(OUTER_LIP_LOOP) > 0) & (cv2.dilate(inner, np.ones((3, 3), np.uint8)) == 0)
    inside = cv2.erode(inner, np.ones((3, 3), np.uint8)) > 0
    out = np.zeros((len(INNER_LIP_PAIRS), 2), np.float32)
    if ring.sum() < 10 or inside.sum() < 4:
        return out
    a_lip, l_lip = float(np.median(lab[..., 1][ring])), float(np.median(lab[..., 0][ring]))
    a_open = float(np.percentile(lab[..., 1][inside], 20))
    if a_lip - a_open < 2.0:  # no colour contrast between lips and opening: keep the contour
        return out
    for i, (u, lo) in enumerate(INNER_LIP_PAIRS):
        d = lmk[lo] - lmk[u]
        g = float(np.linalg.norm(d))
        if g < 1e-6:
            continue
        e = d / g
        ts = np.arange(-2.0, g + 2.0 + 1e-9, 0.125)
        pts = (lmk[u][None] + ts[:, None] * e[None]).astype(np.float32)
        smp = cv2.remap(lab, pts[:, 0].reshape(1, -1), pts[:, 1].reshape(1, -1), cv2.INTER_LINEAR)[0]
        lip = (smp[:, 1] - a_open) / (a_lip - a_open) >= threshold
        opening = ~lip | (smp[:, 0] < 0.6 * l_lip)
        if not opening.any():
            continue
        t0, t1 = ts[np.argmax(opening)], ts[len(ts) - 1 - np.argmax(opening[::-1])]
        mu, ml = max(t0, 0.0), max(g - t1, 0.0)
        if mu + ml > g:
            mu, ml = mu * g / (mu + ml), ml * g / (mu + ml)
        out[i] = (mu, ml)
    return out
