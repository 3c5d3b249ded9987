"""The detector's blendshape scores as soft observations of named expression components.

MediaPipe's Face Landmarker gives 52 scores in [0, 1] named after ARKit's blendshapes. A model
whose expression components are named FACS-like activations (the demo head's ``smile_left``,
``brow_raise``, ...) has several that mean the same thing; :data:`OBSERVED` lists them, written
from the names' meaning alone (nothing is fitted on any corpus). Left/right pairs are observed
through their mean: whether a score's "Left" is the subject's or the image's left could not be
checked (docs/fitting.md, "Levers measured"), and a mean does not depend on it. A model without
such names (FLAME's ``expr_000``...) gets no observation.

Each row r observes ``a_r . expression_t`` (``a_r``: weights over the components) as
``scale x (mean of its scores at frame t)`` with the noise std and weight of
:class:`~pipeline.fitting.config.BlendshapeConfig`, in frames with a detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .config import BlendshapeConfig

__all__ = ["OBSERVED", "ExpressionObservations", "expression_observations"]

#: rows of observations: (components averaged, scores averaged); ARKit / MediaPipe score names
OBSERVED: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("lip_pucker",), ("mouthPucker",)),
    (("lip_funnel",), ("mouthFunnel",)),
    (("lip_stretch",), ("mouthStretchLeft", "mouthStretchRight")),
    (("lip_press",), ("mouthPressLeft", "mouthPressRight")),
    (("upper_lip_raise",), ("mouthUpperUpLeft", "mouthUpperUpRight")),
    (("lower_lip_depress",), ("mouthLowerDownLeft", "mouthLowerDownRight")),
    (("smile_left", "smile_right"), ("mouthSmileLeft", "mouthSmileRight")),
    (("frown",), ("mouthFrownLeft", "mouthFrownRight")),
    (("chin_raise",), ("mouthShrugLower",)),
    (("cheek_puff",), ("cheekPuff",)),
    (("cheek_raise",), ("cheekSquintLeft", "cheekSquintRight")),
    (("nose_wrinkle",), ("noseSneerLeft", "noseSneerRight")),
    (("brow_raise",), ("browOuterUpLeft", "browOuterUpRight")),
    (("brow_inner_raise",), ("browInnerUp",)),
    (("brow_furrow",), ("browDownLeft", "browDownRight")),
    (("eyelid_close_left", "eyelid_close_right"), ("eyeBlinkLeft", "eyeBlinkRight")),
    (("eye_wide",), ("eyeWideLeft", "eyeWideRight")),
)


@dataclass
class ExpressionObservations:
    """Linear observations of the expression: ``rows (R, E)`` (float64), per frame ``value (N, R)``
    and precision ``precision (N, R)`` (``weight / std^2``; 0 where a frame has no detection)."""

    rows: torch.Tensor
    value: torch.Tensor
    precision: torch.Tensor

    def frames(self, a: int, b: int) -> "ExpressionObservations":
        return ExpressionObservations(self.rows, self.value[a:b], self.precision[a:b])

    @staticmethod
    def concat(parts: Sequence["ExpressionObservations"]) -> "ExpressionObservations":
        return ExpressionObservations(parts[0].rows, torch.cat([p.value for p in parts]),
                                      torch.cat([p.precision for p in parts]))

    def scaled(self, c: float) -> "ExpressionObservations":
        return ExpressionObservations(self.rows, self.value, self.precision * c)

    def terms(self, expression: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Energy, gradient ``(N, E)`` and Gauss-Newton block ``(N, E, E)`` at ``expression (N, E)``."""
        r = expression @ self.rows.T - self.value  # (N, R)
        wr = self.precision * r
        H = torch.einsum("nr,ri,rj->nij", self.precision, self.rows, self.rows)
        return 0.5 * (wr * r).sum(), wr @ self.rows, H


def expression_observations(blendshapes: np.ndarray | None, blendshape_names: Sequence[str], valid: np.ndarray,
                            expression_names: Sequence[str], cfg: BlendshapeConfig,
                            device: str | torch.device = "cpu") -> ExpressionObservations | None:
    """The observations of frames with scores ``blendshapes (N, B)`` (named ``blendshape_names``) and
    detections ``valid (N,)`` for the components ``expression_names`` (the fitted ones); ``None`` when
    the term is off (``cfg.weight`` 0), the track has no scores, or no row has both its components and
    its scores."""
    if cfg.weight <= 0 or blendshapes is None:
        return None
    comp = {n: i for i, n in enumerate(expression_names)}
    score = {n: i for i, n in enumerate(blendshape_names)}
    rows, values = [], []
    for comps, scores in OBSERVED:
        if not all(c in comp for c in comps) or not all(s in score for s in scores):
            continue
        if cfg.components and not all(c in cfg.components for c in comps):
            continue
        a = np.zeros(len(expression_names))
        a[[comp[c] for c in comps]] = 1.0 / len(comps)
        rows.append(a)
        values.append(blendshapes[:, [score[s] for s in scores]].astype(np.float64).mean(1))
    if not rows:
        return None
    value = cfg.scale * np.stack(values, 1)
    ok = np.asarray(valid, bool)[:, None] & np.isfinite(value)
    precision = np.where(ok, cfg.weight / cfg.std**2, 0.0) * np.ones_like(value)
    t = lambda v: torch.as_tensor(v, dtype=torch.float64, device=device)  # noqa: E731
    return ExpressionObservations(t(np.stack(rows)), t(np.nan_to_num(value)), t(precision))
