"""Typed configuration of a training run (defaults and their reasons: docs/model.md section 3; paper §3.3).

``configs/emoface-paper.yaml`` and ``configs/emoface-small.yaml`` override these; every run
writes its fully resolved config to ``runs/<name>/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from emoface.model.config import ModelConfig
from emoface.utils.config import bounded

__all__ = ["ScheduleConfig", "LossConfig", "OptimConfig", "PairConfig", "TrainConfig", "ExperimentConfig"]


@dataclass
class ScheduleConfig:
    """How the decoder inputs are built during training (paper §3.3.1)."""

    kind: Literal["self_growing", "teacher_forcing", "autoregressive"] = "self_growing"
    theta: int = bounded(20, ge=0)  # warm-up epochs with ground truth only (UNKNOWN in the paper)
    draw: Literal["frame", "sequence"] = "frame"  # one rand() per frame or per sequence
    detach_predictions: bool = True  # stop-gradient on the stage-1 predictions fed back
    stage1_loss_weight: float = bounded(0.0, ge=0)  # > 0 also supervises the stage-1 (teacher-forced) outputs
    skip_stage1_when_all_gt: bool = True  # p_gt = 1 makes stage 2 = stage 1: run it once


@dataclass
class LossConfig:
    """L = self * L_self + cross * L_cross + velocity * L_vel + classification * L_cls (L1 as means)."""

    self_weight: float = bounded(1000.0, ge=0)
    cross_weight: float = bounded(1000.0, ge=0)
    velocity_weight: float = bounded(500.0, ge=0)
    classification_weight: float = bounded(1e-4, ge=0)
    intermediate: bool = True  # the branch terms of L_self and L_cross (intermediate supervision)


@dataclass
class OptimConfig:
    lr: float = bounded(1e-4, gt=0)
    betas: tuple[float, float] = bounded((0.9, 0.999), ge=0, lt=1)
    weight_decay: float = bounded(0.0, ge=0)
    grad_clip: float | None = bounded(None, gt=0)  # max gradient norm; None = no clipping (paper: UNKNOWN)
    # learning rate over the run: constant (the paper's Adam, as FaceFormer's) or cosine from lr to 0 by the
    # last step (emoface.train.schedule.cosine_lr; computed from the step, so a resumed run continues it)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # memory options (emoface/train/memory.py, docs/model.md section 2.4; no result changes beyond
    # float rounding): Adam's multi-tensor path (None = PyTorch's choice: multi-tensor for CUDA
    # tensors, one parameter at a time on the CPU; false avoids temporaries the size of all
    # parameters on a GPU; the same update to float rounding)
    foreach: bool | None = None
    # Adam's fused kernel (torch.optim.Adam(fused=True), CPU and CUDA): the whole update of a parameter
    # in one vectorised pass instead of a dozen elementwise operations; the same update to float
    # rounding (tested to 1e-5), 2.6-4.2x faster on the CPU (BENCHMARKS.md, "FLAME scale")
    fused: bool = False
    # update each parameter inside the backward pass as soon as its gradient is complete and free
    # that gradient: the whole model's gradients never exist at once (bit for bit foreach: false;
    # not with grad_clip, not under DDP)
    step_in_backward: bool = False

    def __post_init__(self) -> None:
        if self.fused and self.foreach:
            raise ValueError("fused and foreach are two implementations of Adam's step: set one of them")
        if self.step_in_backward and self.grad_clip:
            raise ValueError("step_in_backward cannot clip gradients (a global norm needs every gradient first): set "
                             "grad_clip to null or step_in_backward to false")


@dataclass
class PairConfig:
    """Cross-reconstruction pairs: same subject, statement and repetition, different emotion."""

    match_intensity: bool = False  # also require the same intensity
    # L_cross on or off; None = decide from the data: off (with a warning) when the training
    # split has no pair at all (VOCASET). The run's config.yaml records the decision.
    cross_reconstruction: bool | None = None


@dataclass
class TrainConfig:
    epochs: int = bounded(200, ge=1)
    batch_size: int = bounded(1, ge=1)  # > 1 crops each side of the batch to its shortest clip
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = bounded(None, ge=1)  # CPU threads per process; None = cores / processes on this node
    num_workers: int = bounded(0, ge=0)  # DataLoader workers
    val_every: int = bounded(1, ge=1)  # epochs between validations (the last epoch is always validated)
    val_max_clips: int | None = bounded(None, ge=1)  # validate on the first N clips only (None = all)
    val_speaker: int = bounded(0, ge=0)  # speaker condition for validation subjects unseen in training
    log_every: int = bounded(10, ge=1)  # steps between tensorboard step scalars
    keep_every: int = bounded(0, ge=0)  # also keep checkpoints/epoch_XXXX.pt every N epochs (0 = never)
    # the anchor audio's content CNN once for the self and the cross target (clips of different
    # lengths) also when the CNN is trained: same forward numbers, gradients summed in another
    # float order (a frozen CNN is always shared: no gradient, the same numbers)
    share_anchor_cnn: bool = False
    # glibc's allocator returns freed memory to the system (no number changes): "trim" after
    # every step (cheap), "mmap" every allocation >= 1 MiB from its own mapping (also within a
    # step; more page faults), "off" = glibc's defaults (freed memory stays in the process)
    malloc_release: Literal["off", "trim", "mmap"] = "off"


@dataclass
class ExperimentConfig:
    name: str = "emoface"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
