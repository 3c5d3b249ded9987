"""EmoFace training losses (paper §3.3.2): L_self, L_cross, L_vel, L_cls.

All L1 terms are means over batch, frames, vertices and coordinates (metres):

- ``L_self  = |M^e_11 - GT_11| + |M^c_11 - GT_11| + |M_11 - GT_11|``
- ``L_cross = |M^e_12 - GT_12| + |M^c_12 - GT_12| + |M_12 - GT_12|``
  (the first two terms are the branches' intermediate supervision)
- ``L_vel   = |dM_11 - dGT_11| + |dM_12 - dGT_12|`` on the fused output, d = frame difference
- ``L_cls   = cross-entropy of the emotion logits of both clips``

Single-branch models have one output per clip: only the fused terms remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from emoface.model.emoface import Offsets
from emoface.train.config import LossConfig

__all__ = ["LossTerms", "sequence_losses", "pair_losses"]


@dataclass
class LossTerms:
    total: torch.Tensor
    terms: dict[str, torch.Tensor]  # unweighted: self, cross, velocity, classification


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def _velocity(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return _l1(pred[:, 1:] - pred[:, :-1], gt[:, 1:] - gt[:, :-1])


def sequence_losses(out: Offsets, gt: torch.Tensor, intermediate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction (fused + branch terms) and velocity loss of one target; ``gt (B, T, V, 3)`` offsets."""
    rec = _l1(out.fused, gt)
    if intermediate and out.emotion is not None:
        rec = rec + _l1(out.emotion, gt) + _l1(out.content, gt)
    return rec, _velocity(out.fused, gt)


def pair_losses(out_self: Offsets, gt_self: torch.Tensor, out_cross: Offsets | None, gt_cross: torch.Tensor | None,
                logits: torch.Tensor | None, labels: torch.Tensor | None, cfg: LossConfig) -> LossTerms:
    """The weighted total and the unweighted terms for one pair batch (``out_cross`` None: no L_cross)."""
    l_self, v_self = sequence_losses(out_self, gt_self, cfg.intermediate)
    if out_cross is None:
        l_cross = l_self.new_zeros(())
        l_vel = v_self
    else:
        l_cross, v_cross = sequence_losses(out_cross, gt_cross, cfg.intermediate)
        l_vel = v_self + v_cross
    l_cls = F.cross_entropy(logits, labels) if logits is not None else l_self.new_zeros(())
    total = (cfg.self_weight * l_self + cfg.cross_weight * l_cross + cfg.velocity_weight * l_vel
             + cfg.classification_weight * l_cls)
    return LossTerms(total, {"self": l_self, "cross": l_cross, "velocity": l_vel, "classification": l_cls})
