"""The face photograph: registration with the Face Landmarker, masks, and per-actor portraits.

The photographs (``skimage.data.astronaut()``, Grace Hopper's portrait, or a file given with
``--photo``) are named and loaded by :mod:`pipeline.sources.synth.photoset`.
:func:`register_photo` runs the project's MediaPipe Face Landmarker once on one; its first 468
landmarks correspond one to one to the canonical mesh vertices (and so to the demo head),
which makes them the texture coordinates of the face. GrabCut, seeded with the face hull and
the neck region, separates the person from the photo's background so that every actor can
stand in front of their own wall. :func:`compose_portrait` builds an actor's still frame:
background, recoloured clothing, skin tone, all placed by a similarity transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from emoface.morphable.mediapipe_indices import OUTER_EYE_CORNERS

__all__ = ["PhotoFace", "Look", "register_photo", "compose_portrait", "similarity_to"]


@dataclass(frozen=True)
class PhotoFace:
    """A registered photo.

    - ``image (H, W, 3)`` uint8 RGB; ``landmarks (468, 2)`` float32 pixels (x right, y down);
    - ``person``, ``skin``, ``clothes``: ``(H, W)`` float32 soft masks in [0, 1].
    """

    image: np.ndarray
    landmarks: np.ndarray
    person: np.ndarray
    skin: np.ndarray
    clothes: np.ndarray


@dataclass(frozen=True)
class Look:
    """An actor's appearance.

    ``wall_top``/``wall_bottom``: RGB of the background gradient; ``skin_shift``: (dL, da, db)
    in OpenCV 8-bit Lab units added inside the skin mask, ``skin_gain`` scales lightness there;
    ``shirt``: RGB the clothing is recoloured to (shading kept); ``hair_gain``: lightness factor
    of the hair; ``noise``: amplitude of the wall's texture (grey levels); ``seed`` for it.
    """

    wall_top: tuple[int, int, int] = (236, 236, 232)
    wall_bottom: tuple[int, int, int] = (214, 214, 210)
    skin_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    skin_gain: float = 1.0
    shirt: tuple[int, int, int] = (30, 30, 34)
    hair_gain: float = 1.0
    noise: float = 2.0
    seed: int = 0


def register_photo(image: np.ndarray, what: str = "photo") -> PhotoFace:
    """Detect the face in ``image`` (RGB uint8) and build the person, skin and clothing masks."""
    from pipeline.landmarker import FaceLandmarker

    with FaceLandmarker(mode="image") as lm:
        det = lm.detect(np.ascontiguousarray(image))
    if det is None:
        raise ValueError(f"{what}: the Face Landmarker finds no face in the photo")
    lmk = det.landmarks[:468, :2].astype(np.float32)
    person = _person_mask(image, lmk)
    skin = _skin_mask(image, lmk, person)
    clothes = _clothes_mask(image, lmk, person, skin)
    return PhotoFace(image=image, landmarks=lmk, person=person, skin=skin, clothes=clothes)


def _face_geometry(lmk: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    hull = cv2.convexHull(lmk.astype(np.float32)).reshape(-1, 2)
    width = float(np.ptp(lmk[:, 0]))
    centre = lmk.mean(axis=0)
    return hull, width, centre


def _person_box(lmk: np.ndarray) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` photo pixels where the person may be: a wide box around the face,
    from above the hair to three face widths below the chin."""
    _, width, centre = _face_geometry(lmk)
    chin_y = float(lmk[152, 1])
    return centre[0] - 2.1 * width, centre[1] - 1.35 * width, centre[0] + 1.85 * width, chin_y + 3.0 * width


def _person_mask(image: np.ndarray, lmk: np.ndarray) -> np.ndarray:
    """GrabCut seeded with the face and the neck below it (deterministic: OpenCV's RNG is seeded).

    Sure background: everything outside the person box, and the photo's top row and its side
    columns down to the chin, so that a photo whose face fills it (the person box covers the
    whole image, as in Grace Hopper's portrait) still gives GrabCut background samples."""
    h, w = image.shape[:2]
    hull, width, centre = _face_geometry(lmk)
    chin_y = float(lmk[152, 1])
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    bx0, by0, bx1, by1 = _person_box(lmk)
    x0, x1 = int(max(bx0, 0)), int(min(bx1, w))
    y0 = int(max(by0, 0))
    mask[y0 : min(int(by1), h), x0:x1] = cv2.GC_PR_FGD
    mask[0, :] = cv2.GC_BGD
    mask[: int(max(chin_y, 0)), [0, w - 1]] = cv2.GC_BGD
    if bx0 < 0 or bx1 > w:
        # no margin beside the person (a face that fills the photo): beside the head, above the
        # chin, is probably background (the head with its hair is about one face width wide)
        xs = np.abs(np.arange(w, dtype=np.float32) - centre[0])
        side = np.broadcast_to(xs[None, :] > 0.8 * width, (h, w)).copy()
        side[int(max(chin_y, 0)) :] = False
        mask[side & (mask == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), cv2.GC_FGD)
    # the neck and collar under the chin belong to the person
    neck_c = (int(centre[0] - 0.15 * width), int(chin_y + 0.55 * width))
    cv2.ellipse(mask, neck_c, (int(1.0 * width), int(0.75 * width)), 0, 0, 360, cv2.GC_FGD, -1)
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    fg = ndimage.binary_closing(fg, iterations=3)
    fg = ndimage.binary_fill_holes(fg)
    lab, n = ndimage.label(fg)
    if n > 1:  # keep the component that holds the face
        fg = lab == lab[int(centre[1]), int(centre[0])]
    return cv2.GaussianBlur(fg.astype(np.float32), (0, 0), 1.2)


def _skin_mask(image: np.ndarray, lmk: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Skin: pixels of the person whose chroma is close to the face's median, on the face and neck."""
    hull, width, centre = _face_geometry(lmk)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    inner = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(inner, np.round(hull).astype(np.int32), 1)
    ref = np.median(lab[inner.astype(bool)], axis=0)
    d = np.hypot(lab[..., 1] - ref[1], lab[..., 2] - ref[2])
    close = np.exp(-0.5 * (d / 7.0) ** 2) * (lab[..., 0] > 0.35 * ref[0])
    region = np.zeros_like(inner)
    grown = (hull - centre) * 1.08 + centre
    cv2.fillConvexPoly(region, np.round(grown).astype(np.int32), 1)
    up = grown - np.array([0.0, 0.12 * width])  # the forehead above the mesh, up to the hairline
    cv2.fillConvexPoly(region, np.round(up).astype(np.int32), 1)
    chin_y = float(lmk[152, 1])
    neck = (int(centre[0] - 0.1 * width), int(chin_y + 0.1 * width))
    cv2.ellipse(region, neck, (int(0.45 * width), int(0.45 * width)), 0, 0, 360, 1, -1)
    m = close * region * (person > 0.5)
    m = np.maximum(m, cv2.erode(inner, np.ones((9, 9), np.uint8)) * 0.9 * close.clip(0.5, 1))
    return cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2.0)


def _clothes_mask(image: np.ndarray, lmk: np.ndarray, person: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Clothing: saturated person pixels below the chin that are not skin (the astronaut's
    orange suit, Grace Hopper's navy jacket and ribbons)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    below = np.zeros(image.shape[:2], np.float32)
    below[int(lmk[152, 1] + 0.25 * np.ptp(lmk[:, 0])) :, :] = 1.0
    sat = np.clip((hsv[..., 1] - 90.0) / 60.0, 0.0, 1.0)
    m = sat * below * (person > 0.5) * (1.0 - np.clip(skin, 0.0, 1.0))  # a saturated neck stays skin
    return cv2.GaussianBlur(m, (0, 0), 1.5)


def similarity_to(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, translation) ``(2, 3)`` taking
    ``src (N, 2)`` onto ``dst (N, 2)`` (Umeyama, no RANSAC, so it is deterministic)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    r = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / a.var(0).sum()
    t = md - scale * r @ ms
    return np.concatenate([scale * r, t[:, None]], axis=1).astype(np.float32)


def fit_photo_shape(v_template: np.ndarray, shapedirs: np.ndarray, landmarks: np.ndarray, reg: float = 1.0, iters: int = 3) -> np.ndarray:
    """Shape coefficients ``(S,)`` whose front view best matches the photo's landmarks.

    Linear least squares on x, y after a similarity alignment (alternated ``iters`` times),
    with a ridge penalty ``reg`` (coefficients are in units of one sigma). The photo's own
    expression (a smile) is partly absorbed; the penalty keeps that small.
    Args: ``v_template (V, 3)``, ``shapedirs (V, 3, S)`` metres; ``landmarks (V, 2)`` pixels, y down.
    """
    v = np.asarray(v_template, np.float64)[:, :2] * np.array([1.0, -1.0])
    d = np.asarray(shapedirs, np.float64)[:, :2, :] * np.array([1.0, -1.0])[None, :, None]
    target = np.asarray(landmarks, np.float64)
    beta = np.zeros(d.shape[-1])
    for _ in range(iters):
        cur = v + d @ beta
        m = similarity_to(target, cur).astype(np.float64)  # photo pixels -> model metres
        tgt = target @ m[:, :2].T + m[:, 2]
        a = d.reshape(-1, d.shape[-1])
        b = (tgt - v).reshape(-1)
        scale = np.linalg.norm(a, axis=0).mean()
        beta = np.linalg.solve(a.T @ a + reg * scale**2 * np.eye(a.shape[1]), a.T @ b)
    return beta.astype(np.float32)


def compose_portrait(photo: PhotoFace, look: Look, transform: np.ndarray, width: int, height: int) -> np.ndarray:
    """An actor's still frame ``(height, width, 3)`` uint8: the photo's person recoloured by
    ``look`` and placed by ``transform`` (2x3, photo -> frame pixels) in front of the wall."""
    img = photo.image.astype(np.float32)
    lab = cv2.cvtColor(photo.image, cv2.COLOR_RGB2LAB).astype(np.float32)
    # skin tone
    dl, da, db = look.skin_shift
    skin = photo.skin[..., None]
    tone = lab.copy()
    tone[..., 0] = lab[..., 0] * look.skin_gain + dl
    tone[..., 1] += da
    tone[..., 2] += db
    lab = lab * (1.0 - skin) + tone * skin
    # hair: the person above the eyes that is not skin
    hair = photo.person * (1.0 - photo.skin) * (1.0 - photo.clothes)
    top = np.zeros_like(hair)
    top[: int(photo.landmarks[list(OUTER_EYE_CORNERS), 1].mean()), :] = 1.0
    hair = cv2.GaussianBlur(hair * top, (0, 0), 2.0)[..., None]
    lab[..., :1] = lab[..., :1] * (1.0 - hair) + lab[..., :1] * look.hair_gain * hair
    rgb = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
    # clothing: keep the shading (lightness), take the actor's shirt colour
    shade = (np.clip(lab[..., :1], 0, 255) / 255.0) ** 0.8
    shirt = np.asarray(look.shirt, np.float32)[None, None, :] * (0.45 + 1.1 * shade)
    c = photo.clothes[..., None]
    rgb = rgb * (1.0 - c) + shirt * c
    rgba = np.concatenate([np.clip(rgb, 0, 255), photo.person[..., None] * 255.0], axis=2)
    placed = cv2.warpAffine(rgba, transform, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = np.clip(placed[..., 3:] / 255.0, 0.0, 1.0)
    wall = _wall(look, width, height)
    out = wall * (1.0 - alpha) + np.clip(placed[..., :3], 0, 255) * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _wall(look: Look, width: int, height: int) -> np.ndarray:
    """A studio wall: vertical gradient, soft vignette and a little static texture."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top = np.asarray(look.wall_top, np.float32)[None, None, :]
    bottom = np.asarray(look.wall_bottom, np.float32)[None, None, :]
    wall = top * (1.0 - y) + bottom * y
    xx, yy = np.meshgrid(np.linspace(-1, 1, width, dtype=np.float32), np.linspace(-1, 1, height, dtype=np.float32))
    wall = wall * (1.0 - 0.08 * (xx**2 + yy**2))[..., None]
    rng = np.random.default_rng(look.seed)
    grain = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.5)
    wall = wall + look.noise * grain[..., None] / max(float(grain.std()), 1e-6)
    return np.broadcast_to(wall, (height, width, 3))
