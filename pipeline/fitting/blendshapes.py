"""The detector's blendshape scores as soft observations of named expression components.

MediaPipe's Face Landmarker gives 52 scores in [0, 1] named after ARKit's blendshapes. A model
whose expression components are named FACS-like activations (the demo head's ``smile_left``,
``brow_raise``, ...) has several that mean the same thing; :data:`OBSERVED` lists them, written
from the names' meaning and the components' definitions alone (nothing is fitted on any corpus).
Left/right pairs are observed through their mean: whether a score's "Left" is the subject's or the
image's left could not be checked (docs/fitting.md, "Levers measured"), and a mean does not depend
on it. A model without such names (FLAME's ``expr_000``...) gets no observation.

Imports no torch until observations are built (the build's config check reads :data:`OBSERVED`).

Each row r observes ``a_r . expression_t`` (``a_r``: the row's weights over the components) as
``scale x (mean of its scores at frame t)`` with the noise std and weight of
:class:`~pipeline.fitting.config.BlendshapeConfig`, in frames with a detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from .config import BlendshapeConfig

__all__ = ["OBSERVED", "OBSERVED_COMPONENTS", "ExpressionObservations", "expression_observations", "selected_rows",
           "unselected_components"]

#: rows of observations: (components with their weights, scores averaged); ARKit / MediaPipe score names.
#: A pair observed through its mean weighs each side 1/2; ``browInnerUp`` (AU1) is the sum of the demo
#: head's ``brow_raise`` (AU1+2, the whole brow) and ``brow_inner_raise`` (AU1), ``browOuterUp`` (AU2)
#: ``brow_raise`` alone. Left out: ``eyeWide*``, ``noseSneer*`` and ``cheekPuff``, which stay near 0 on
#: real faces that show them (google-ai-edge/mediapipe issues 4450 and 4436): a row would pull
#: ``eye_wide``, ``nose_wrinkle`` and ``cheek_puff`` to 0 whatever the face does.
OBSERVED: tuple[tuple[tuple[tuple[str, float], ...], tuple[str, ...]], ...] = (
    ((("lip_pucker", 1.0),), ("mouthPucker",)),
    ((("lip_funnel", 1.0),), ("mouthFunnel",)),
    ((("lip_stretch", 1.0),), ("mouthStretchLeft", "mouthStretchRight")),
    ((("lip_press", 1.0),), ("mouthPressLeft", "mouthPressRight")),
    ((("upper_lip_raise", 1.0),), ("mouthUpperUpLeft", "mouthUpperUpRight")),
    ((("lower_lip_depress", 1.0),), ("mouthLowerDownLeft", "mouthLowerDownRight")),
    ((("smile_left", 0.5), ("smile_right", 0.5)), ("mouthSmileLeft", "mouthSmileRight")),
    ((("frown", 1.0),), ("mouthFrownLeft", "mouthFrownRight")),
    ((("chin_raise", 1.0),), ("mouthShrugLower",)),
    ((("cheek_raise", 1.0),), ("cheekSquintLeft", "cheekSquintRight")),
    ((("brow_raise", 1.0),), ("browOuterUpLeft", "browOuterUpRight")),
    ((("brow_raise", 1.0), ("brow_inner_raise", 1.0)), ("browInnerUp",)),
    ((("brow_furrow", 1.0),), ("browDownLeft", "browDownRight")),
    ((("eyelid_close_left", 0.5), ("eyelid_close_right", 0.5)), ("eyeBlinkLeft", "eyeBlinkRight")),
)


#: every component some row observes
OBSERVED_COMPONENTS: tuple[str, ...] = tuple(dict.fromkeys(c for weights, _ in OBSERVED for c, _ in weights))


def selected_rows(components: Sequence[str] = ()) -> tuple[int, ...]:
    """The rows of :data:`OBSERVED` that ``fit.blendshapes.components`` keeps: those whose components
    it all names (every row when it is empty)."""
    return tuple(i for i, (weights, _) in enumerate(OBSERVED)
                 if not components or all(c in components for c, _ in weights))


def unselected_components(components: Sequence[str]) -> list[str]:
    """The names of ``components`` that no kept row observes: not a component of any row, or one that
    a row observes only together with a component not named (``smile_left`` without ``smile_right``)."""
    kept = {c for i in selected_rows(components) for c, _ in OBSERVED[i][0]}
    return [c for c in components if c not in kept]


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
    def concat(parts: Sequence["ExpressionObservations | None"], n_frames: Sequence[int]) -> "ExpressionObservations | None":
        """The observations of clips stacked frame-wise (``n_frames`` of each); a clip without any
        (a track without scores) observes nothing in its frames. ``FitError`` when the clips'
        scores make different rows (tracks from detectors with other score names)."""
        import torch

        from .types import FitError

        have = [p for p in parts if p is not None]
        if not have:
            return None
        rows = have[0].rows
        if any(p.rows.shape != rows.shape or not torch.equal(p.rows, rows) for p in have):
            raise FitError("blendshape scores: the clips' detectors give different scores; fit.blendshapes needs "
                           "the same score names in every clip of an actor")
        zero = lambda n: torch.zeros(n, len(rows), dtype=rows.dtype, device=rows.device)  # noqa: E731
        return ExpressionObservations(rows, torch.cat([zero(n) if p is None else p.value for p, n in zip(parts, n_frames)]),
                                      torch.cat([zero(n) if p is None else p.precision for p, n in zip(parts, n_frames)]))

    def scaled(self, c: float) -> "ExpressionObservations":
        return ExpressionObservations(self.rows, self.value, self.precision * c)

    def terms(self, expression: torch.Tensor, blocks: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Energy, gradient ``(N, E)`` and Gauss-Newton block ``(N, E, E)`` at ``expression (N, E)``
        (the last two None unless ``blocks``)."""
        import torch

        r = expression @ self.rows.T - self.value  # (N, R)
        wr = self.precision * r
        if not blocks:
            return 0.5 * (wr * r).sum(), None, None
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
    for weights, scores in (OBSERVED[i] for i in selected_rows(cfg.components)):
        names = [c for c, _ in weights]
        if not all(c in comp for c in names) or not all(s in score for s in scores):
            continue
        a = np.zeros(len(expression_names))
        for c, w in weights:
            a[comp[c]] += w
        rows.append(a)
        values.append(blendshapes[:, [score[s] for s in scores]].astype(np.float64).mean(1))
    if not rows:
        return None
    value = cfg.scale * np.stack(values, 1)
    ok = np.asarray(valid, bool)[:, None] & np.isfinite(value)
    precision = np.where(ok, cfg.weight / cfg.std**2, 0.0)
    import torch

    t = lambda v: torch.as_tensor(v, dtype=torch.float64, device=device)  # noqa: E731
    return ExpressionObservations(t(np.stack(rows)), t(np.nan_to_num(value)), t(precision))
