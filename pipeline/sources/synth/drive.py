"""Articulation, expression and blinks -> demo-head parameters and vertices.

Channel -> component mapping (values are the demo head's named expression components,
``emoface.morphable.load("demo").expression_names``; jaw opening is the jaw joint's rotation
about x, radians):

- articulation: ``jaw`` -> jaw (``jaw_max_rad`` at 1.0); ``round`` -> ``lip_pucker`` and
  ``lip_funnel``; ``stretch`` -> ``lip_stretch``; ``tuck`` -> ``chin_raise``; ``close`` -> the
  fraction of the remaining inner-lip gap that ``lip_press`` closes (solved per frame, so
  closed lips touch without crossing whatever the jaw and the face shape);
- expression: ``smile`` -> ``smile_left``/``smile_right``; ``frown``; ``brow_raise``;
  ``brow_inner`` -> ``brow_inner_raise``; ``brow_lower`` -> ``brow_furrow``; ``eye_wide``;
  ``squint`` -> ``cheek_raise``; ``sneer`` -> ``nose_wrinkle`` + ``upper_lip_raise``;
  ``press`` adds to the lip closure; ``lip_stretch`` adds to ``lip_stretch``; ``jaw_drop``
  adds ``jaw_drop_rad``;
- blinks -> ``eyelid_close_left``/``eyelid_close_right``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emoface.morphable.landmarks import INNER_LIP_PAIRS
from pipeline.sources.synth.emotion import EXPRESSION_CHANNELS
from pipeline.sources.synth.visemes import Articulation

__all__ = ["DriveConfig", "FaceParams", "drive_face", "REQUIRED_COMPONENTS"]

REQUIRED_COMPONENTS = (
    "lip_pucker", "lip_funnel", "lip_stretch", "lip_press", "upper_lip_raise", "smile_left", "smile_right", "frown",
    "chin_raise", "cheek_raise", "nose_wrinkle", "brow_raise", "brow_inner_raise", "brow_furrow",
    "eyelid_close_left", "eyelid_close_right", "eye_wide",
)


@dataclass(frozen=True)
class DriveConfig:
    """Gains from channels to components; ``min_gap_m``: inner-lip gap left when fully closed."""

    jaw_max_rad: float = 0.2
    jaw_drop_rad: float = 0.08
    pucker: float = 0.8
    funnel: float = 0.45
    stretch: float = 0.7
    tuck: float = 0.9
    sneer_lip: float = 0.5
    min_gap_m: float = 0.0002


@dataclass
class FaceParams:
    """Per-frame demo-head parameters and their front-facing result (float32).

    ``shape (S,)``, ``expression (T, E)``, ``jaw (T, 3)`` axis-angle radians,
    ``vertices (T, V, 3)`` metres, ``jaw_joint (3,)`` metres (front-facing, from the shape).
    """

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    vertices: np.ndarray
    jaw_joint: np.ndarray


def _layer_vertices(layer, shape: np.ndarray, expression: np.ndarray, jaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = expression.shape[0]
    with torch.no_grad():
        out = layer(
            shape=torch.as_tensor(np.tile(shape, (t, 1)), dtype=torch.float32),
            expression=torch.as_tensor(expression, dtype=torch.float32),
            jaw=torch.as_tensor(jaw, dtype=torch.float32),
            landmarks=None,
        )
    return out.vertices.numpy(), out.joints.numpy()


def drive_face(
    model,
    layer,
    shape: np.ndarray,
    art: Articulation,
    expr: np.ndarray,
    blink: np.ndarray,
    eye_open: float = 0.0,
    smile_asymmetry: float = 0.0,
    cfg: DriveConfig = DriveConfig(),
) -> FaceParams:
    """Demo-head parameters for one clip.

    Args:
        model: the :class:`~emoface.morphable.MorphableModel` (demo head); ``layer`` its
            :class:`~emoface.morphable.MorphableLayer`.
        shape: ``(S,)`` actor shape; ``art``: articulation ``(T, 5)``; ``expr``: ``(T, C)``
            expression channels (:data:`EXPRESSION_CHANNELS`); ``blink``: ``(T,)`` lid closure.
        eye_open: the actor's resting ``eye_wide``; ``smile_asymmetry``: left/right ratio - 1.
    """
    missing = [c for c in REQUIRED_COMPONENTS if c not in model.expression_names]
    if missing:
        raise ValueError(f"{model.name}: the synthetic corpus needs expression components {missing}")
    t = expr.shape[0]
    e = np.zeros((t, len(model.expression_names)), dtype=np.float64)
    ix = model.expression_names.index

    def ch(name: str) -> np.ndarray:
        return expr[:, EXPRESSION_CHANNELS.index(name)].astype(np.float64)

    e[:, ix("lip_pucker")] = cfg.pucker * art["round"]
    e[:, ix("lip_funnel")] = cfg.funnel * art["round"]
    e[:, ix("lip_stretch")] = cfg.stretch * art["stretch"] + ch("lip_stretch")
    e[:, ix("chin_raise")] = cfg.tuck * art["tuck"]
    e[:, ix("smile_left")] = ch("smile") * (1.0 + smile_asymmetry)
    e[:, ix("smile_right")] = ch("smile") * (1.0 - smile_asymmetry)
    e[:, ix("frown")] = ch("frown")
    e[:, ix("brow_raise")] = ch("brow_raise")
    e[:, ix("brow_inner_raise")] = ch("brow_inner")
    e[:, ix("brow_furrow")] = ch("brow_lower")
    e[:, ix("eye_wide")] = np.clip(eye_open * (1.0 - blink) + ch("eye_wide"), 0.0, 1.2)
    e[:, ix("cheek_raise")] = ch("squint")
    e[:, ix("nose_wrinkle")] = ch("sneer")
    e[:, ix("upper_lip_raise")] = cfg.sneer_lip * ch("sneer")
    e[:, ix("eyelid_close_left")] = blink
    e[:, ix("eyelid_close_right")] = blink
    jaw = np.zeros((t, 3), dtype=np.float64)
    jaw[:, 0] = cfg.jaw_max_rad * art["jaw"] + cfg.jaw_drop_rad * ch("jaw_drop")
    # lip closure: press closes a fraction of the gap the other parameters leave, and never
    # more than the narrowest upper/lower inner-lip pair allows (lips touch, never cross)
    press = ix("lip_press")
    d = np.asarray(model.exprdirs[:, :, press], dtype=np.float64)
    up, lo = np.array([p[0] for p in INNER_LIP_PAIRS]), np.array([p[1] for p in INNER_LIP_PAIRS])
    per_unit = d[up, 1] - d[lo, 1]  # signed gap change per unit of lip_press (negative)
    use = per_unit < -1e-5
    verts, _ = _layer_vertices(layer, shape, e, jaw)
    gaps = (verts[:, up, 1] - verts[:, lo, 1]).astype(np.float64)  # (T, pairs)
    close = np.clip(art["close"] + ch("press"), 0.0, 1.0)
    if use.any():
        room = np.maximum(gaps[:, use] - cfg.min_gap_m, 0.0) / -per_unit[use]
        e[:, press] = np.clip(close * room.min(axis=1), 0.0, 2.0)
    verts, joints = _layer_vertices(layer, shape, e, jaw)
    return FaceParams(
        shape=np.asarray(shape, np.float32),
        expression=e.astype(np.float32),
        jaw=jaw.astype(np.float32),
        vertices=verts.astype(np.float32),
        jaw_joint=joints[0, 2].astype(np.float32),
    )
