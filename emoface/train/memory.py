"""Options of the optimiser step and the C allocator that change no number beyond float rounding.

The peak memory of a training step is the parameters, Adam's two moments, the gradients and
the activations saved for the backward pass, plus what the C allocator keeps after it is
freed. :class:`OptimizerStep` runs backward and Adam with the run's options:

- the gradients are freed (``set_to_none``) right after the step, so the next step's forward
  does not run next to the last step's gradients (always; the same numbers);
- ``optim.foreach: false``: Adam one parameter at a time instead of PyTorch's multi-tensor
  path, whose temporaries are the size of a whole parameter group (same update to float
  rounding; bit for bit the same as ``step_in_backward``). PyTorch already takes this path
  for CPU tensors (``foreach: null``); it matters on a GPU;
- ``optim.fused: true``: Adam's fused kernel, the update of a parameter in one vectorised pass
  (the same update to float rounding; faster, not smaller; also inside ``step_in_backward``);
- ``optim.step_in_backward: true``: each parameter is updated inside the backward pass as soon
  as its gradient is complete (a post-accumulate-grad hook), and the gradient is freed there,
  so the gradients of the whole model never exist at once. Adam's update of a parameter reads
  only that parameter's gradient and state, so this is the same update as stepping after the
  backward pass with ``foreach: false``. It cannot clip by a global gradient norm (that needs
  every gradient first) nor run under DDP (which reduces the gradients in its own hooks).

:class:`MallocRelease` (``train.malloc_release``) makes glibc's allocator return freed memory
to the system: ``trim`` calls ``malloc_trim(0)`` after every step (cheap); ``mmap`` serves
every allocation of 1 MiB or more from its own mapping, returned when freed (also within a
step, at the cost of page faults). Neither changes a number. Where the C library is not
glibc, or another allocator replaces glibc's in the process (tcmalloc or jemalloc through
``LD_PRELOAD``, :func:`preloaded_allocator`), both are no-ops (with a warning).
Measurements: BENCHMARKS.md, "FLAME scale".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch

from emoface.train.config import OptimConfig

__all__ = ["OptimizerStep", "StepInBackward", "MallocRelease", "MMAP_THRESHOLD_BYTES", "preloaded_allocator"]

log = logging.getLogger("emoface.train")

MMAP_THRESHOLD_BYTES = 1 << 20  # malloc_release: mmap serves allocations of at least this size from own mappings
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


class StepInBackward:
    """Adam's step of each parameter as soon as its gradient is complete in the backward pass; the gradient is freed.

    The hooks act only inside :meth:`armed` (the training step's backward pass); any other
    backward pass accumulates gradients as usual. The optimiser keeps its usual state, so its
    ``state_dict`` (checkpoints, resume) is the same as with a step after the backward pass.
    """

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self._groups = {p: g for g in optimizer.param_groups for p in g["params"]}
        self._armed = False
        self.steps = 0  # parameter updates made in backward passes
        self._handles = [p.register_post_accumulate_grad_hook(self._step) for p in self._groups]

    @contextmanager
    def armed(self) -> Iterator[None]:
        self._armed = True
        try:
            yield
        finally:
            self._armed = False

    def _step(self, p: torch.Tensor) -> None:
        if not self._armed:
            return
        group = self._groups[p]
        params = group["params"]
        group["params"] = [p]  # the optimiser steps this parameter only (the others' gradients are None)
        try:
            self.optimizer.step()
        finally:
            group["params"] = params
        p.grad = None
        self.steps += 1

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def preloaded_allocator() -> str | None:
    """The allocator that replaces glibc's ``malloc`` in this process (``"tcmalloc"`` or ``"jemalloc"``, e.g.
    through ``LD_PRELOAD``), found by a symbol only it exports; None when ``malloc`` is the C library's."""
    try:
        process = ctypes.CDLL(None)
    except OSError:
        return None
    for name, symbol in (("tcmalloc", "tc_malloc"), ("jemalloc", "mallctl")):
        if hasattr(process, symbol):
            return name
    return None


class MallocRelease:
    """glibc's allocator returns freed memory to the system (``train.malloc_release``); no number changes."""

    def __init__(self, mode: Literal["off", "trim", "mmap"]):
        self.mode = mode
        self._libc = None
        if mode == "off":
            return
        other = preloaded_allocator()
        if other is not None:
            log.warning("train.malloc_release: %s acts on glibc's allocator, and %s replaces it in this process: ignored",
                        mode, other)
            return
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        if libc is None or not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
            log.warning("train.malloc_release: %s needs glibc's malloc_trim/mallopt, not found: ignored", mode)
            return
        self._libc = libc
        if mode == "mmap":
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)  # also stops glibc from raising the threshold

    @property
    def active(self) -> bool:
        return self._libc is not None

    def after_step(self) -> None:
        """Called after every optimiser step: ``trim`` hands the freed heap pages back."""
        if self._libc is not None and self.mode == "trim":
            self._libc.malloc_trim(0)


class OptimizerStep:
    """Adam over ``params`` with the run's memory options; :meth:`backward_and_step` is one training update.

    Args:
        params: the trained parameters (one group).
        cfg: ``optim`` of the run (``lr``, ``betas``, ``weight_decay``, ``grad_clip``, ``foreach``, ``fused``,
            ``step_in_backward``).
        release: the allocator policy (:class:`MallocRelease`), or None.
        distributed: the step runs under DDP (``step_in_backward`` is then refused).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], cfg: OptimConfig, release: MallocRelease | None = None,
                 distributed: bool = False):
        self.params = list(params)
        self.cfg = cfg
        if cfg.step_in_backward and distributed:
            raise ValueError("optim.step_in_backward needs a single process (DDP reduces the gradients in its own "
                             "hooks): set it to false for torchrun")
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                                          foreach=cfg.foreach, fused=cfg.fused or None)
        self.in_backward = StepInBackward(self.optimizer) if cfg.step_in_backward else None
        self.release = release

    def restore_options(self) -> None:
        """After ``optimizer.load_state_dict``: the run's ``foreach`` and ``fused`` again (a state dict carries
        its own; a run may resume with either changed, the moments are the same)."""
        for g in self.optimizer.param_groups:
            g["foreach"] = self.cfg.foreach
            g["fused"] = self.cfg.fused or None

    def backward_and_step(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` and Adam's step; the gradients are None afterwards."""
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        if self.in_backward is not None:
            with self.in_backward.armed():
                loss.backward()
        else:
            loss.backward()
            if self.cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
            opt.step()
        opt.zero_grad(set_to_none=True)  # the next forward pass runs without this step's gradients
        if self.release is not None:
            self.release.after_step()
