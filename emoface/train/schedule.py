"""The self-growing training schedule (paper §3.3.1, App. A.4).

For epoch ``n`` (0-based) of ``N`` and warm-up ``theta``, the probability that the decoder
input at a frame is the ground truth is

    p_gt(n) = 1                                   if n < theta
            = max(0, cos(pi * (n - theta) / (N - theta)))   otherwise

so ``p_gt`` falls from 1 at ``n = theta`` to 0 at ``n = (N + theta) / 2`` and stays 0 after
(prediction-only second half). Each step runs stage 1 with ground-truth inputs, then stage 2
with inputs ``I_t = GT_t`` if ``rand() < p_gt`` else the stage-1 prediction ``P_t``.
"""

from __future__ import annotations

import math

import torch

from emoface.train.config import ScheduleConfig

__all__ = ["gt_probability", "cosine_lr", "draw_uniform", "mix_inputs"]


def gt_probability(epoch: int, epochs: int, theta: int) -> float:
    """``p_gt`` for 0-based ``epoch`` of ``epochs`` with ``theta`` warm-up epochs."""
    if epoch < theta:
        return 1.0
    if epochs <= theta:
        return 1.0
    return max(0.0, math.cos(math.pi * (epoch - theta) / (epochs - theta)))


def draw_uniform(batch: int, n_frames: int, cfg: ScheduleConfig, generator: torch.Generator) -> torch.Tensor:
    """The ``rand()`` draws ``(B, T)`` in [0, 1): one per frame, or one per sequence repeated."""
    if cfg.draw == "frame":
        return torch.rand(batch, n_frames, generator=generator)
    return torch.rand(batch, 1, generator=generator).expand(batch, n_frames).clone()


def mix_inputs(gt: torch.Tensor, pred: torch.Tensor, uniform: torch.Tensor, p_gt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``I = GT where uniform < p_gt else P``; ``gt, pred (B, T, V, 3)``, ``uniform (B, T)``.

    Returns the mixed frames and the boolean ``(B, T)`` mask of ground-truth frames.
    """
    use_gt = uniform.to(gt.device) < p_gt
    return torch.where(use_gt[:, :, None, None], gt, pred), use_gt


def cosine_lr(lr: float, step: int, total: int) -> float:
    """``lr`` at 0-based optimizer ``step`` of ``total`` under cosine decay to 0 (``optim.lr_schedule: cosine``)."""
    if total <= 0:
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(max(step, 0), total) / total))
