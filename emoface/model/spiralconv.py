"""SpiralConv3D: a spiral convolution over the mesh with a causal temporal window (paper §3.2).

For vertex ``i`` at frame ``t`` the operator takes the features of the spiral ``S(i)``
(length L, SpiralNet++ order, see :mod:`emoface.mesh.spiral`) at each of the frames
``t - delta + 1 .. t`` (zeros before the first frame) and applies one fully connected layer
to all ``delta * L * C_in`` values:

    y[b, :, t, i] = b + sum_{tau < delta} sum_{l < L} W[:, :, tau, l] x[b, :, t - delta + 1 + tau, S(i)_l]

which is ``Linear(delta * L * C_in -> C_out)`` on the concatenated neighbourhood. With
``delta = 1`` it is SpiralNet++'s SpiralConv ("SpiralConv2D" in the paper).

Layout: features are channels-first ``(B, C, T, V)``. The spiral gather turns them into
``(B, C, T, V * L)`` and the fully connected layer is then a ``conv2d`` with kernel
``(delta, L)`` and stride ``(1, L)``, which is about twice as fast on a CPU as gathering,
unfolding and permuting into a ``Linear`` (and gives the same numbers).

Memory: the gathered tensor has ``B * C * (T + delta - 1) * V * L`` elements. Above
``max_gather_elements`` the vertices are processed in chunks, and with gradients enabled
each chunk is recomputed in the backward pass (activation checkpointing) instead of storing
its gather.

Inference (no gradients) with ``C_out * delta < C_in`` (Mesh Attention's last layer: 8 -> 1
channels, delta 3) projects before gathering: ``Z[(l, o), t, u] = sum_{c, tau} W[o, c, tau, l]
x[c, t + tau, u]`` is one convolution over time (kernel ``(delta, 1)``), then
``y[o, t, v] = b[o] + sum_l Z[(l, o), t, S(v)_l]`` is one gather along the vertices and a sum; that moves
``C_out * L`` instead of ``C_in * L`` values per vertex-frame. Same numbers up to float
summation order (tested to 1e-5); training keeps the gather + conv2d path, bit for bit, unless
``project_first_training`` (on in the paper preset: the same gradients up to summation order;
Mesh Attention's forward + backward pass at 5023 vertices takes about a third of the time,
BENCHMARKS.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["SpiralConv3D"]


class SpiralConv3D(nn.Module):
    """``x (B, C_in, T, V) -> (B, C_out, T, V)`` with spiral ``indices (V, L)`` and window ``delta``."""

    def __init__(self, in_channels: int, out_channels: int, indices: torch.Tensor, delta: int = 1,
                 max_gather_elements: int = 1 << 25, use_checkpoint: bool = True, project_first_training: bool = False):
        super().__init__()
        if indices.dim() != 2:
            raise ValueError(f"spiral indices must be (V, L), got {tuple(indices.shape)}")
        if delta < 1:
            raise ValueError(f"delta must be >= 1, got {delta}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.delta = delta
        self.seq_length = int(indices.shape[1])
        self.max_gather_elements = max_gather_elements
        self.use_checkpoint = use_checkpoint
        self.project_first_training = project_first_training
        self.register_buffer("indices", indices.long().clone(), persistent=False)
        # (L, V): S(v)_l, for the projected path's gather; derived from ``indices``, which nothing reassigns
        self.register_buffer("gather_index", self.indices.t().contiguous(), persistent=False)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, delta, self.seq_length))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # Xavier-uniform as for the equivalent Linear(delta * L * C_in -> C_out) (SpiralNet++)
        bound = math.sqrt(6.0 / (in_channels * delta * self.seq_length + out_channels))
        nn.init.uniform_(self.weight, -bound, bound)

    def _block(self, xp: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        g = xp.index_select(3, idx.reshape(-1))  # (B, C, T+delta-1, n*L)
        return F.conv2d(g, self.weight, self.bias, stride=(1, self.seq_length))  # (B, C_out, T, n)

    def _project_gather(self, xp: torch.Tensor, t: int, frames_per_chunk: int = 64) -> torch.Tensor:
        """Project the channels first, then gather (see the module docstring).

        The projection of all ``delta`` window frames is one convolution over time,
        ``Z[(l, o), t, u] = sum_{c, tau} W[o, c, tau, l] xp[c, t + tau, u]`` (``conv2d`` with a
        ``(delta, 1)`` kernel), and the spiral sum one ``gather`` along the vertices (index
        ``S(v)_l`` in the plane of spiral position ``l``) and a sum over ``l``: a handful of
        whole-tensor operations on the ``(B, C, T, V)`` layout, whose backward pass is about as
        cheap as the forward (a loop over the ``L * delta`` spiral and window positions made the
        backward pass of every slice write a zero-filled copy of the whole
        projection). Without gradients the frames go in chunks of ``frames_per_chunk`` (each with
        its ``delta - 1`` frames of history) so that the temporaries stay a few MB on long audio;
        each output frame's sum is the same in any chunking.
        """
        b, c, _, v = xp.shape
        o, d, n = self.out_channels, self.delta, self.seq_length
        if t == 0:
            return xp.new_zeros(b, o, 0, v)
        w = self.weight.permute(3, 0, 1, 2).reshape(n * o, c, d, 1)  # output channels (l, o); kernel (delta, 1)
        step = t if torch.is_grad_enabled() else frames_per_chunk
        outs = []
        for t0 in range(0, t, step):
            tc = min(step, t - t0)
            z = F.conv2d(xp[:, :, t0 : t0 + tc + d - 1], w)  # (B, L*O, tc, V)
            idx = self.gather_index.view(1, n, 1, v).expand(b, n, o * tc, v)
            g = z.view(b, n, o * tc, v).gather(3, idx)  # [b, l, (o, t), v] = z[b, (l, o), t, S(v)_l]
            outs.append(g.sum(1).view(b, o, tc, v) + self.bias.view(1, o, 1, 1))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)  # (B, O, T, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, v = x.shape
        if v != self.indices.shape[0]:
            raise ValueError(f"SpiralConv3D built for {self.indices.shape[0]} vertices, got {v}")
        if c != self.in_channels:
            raise ValueError(f"SpiralConv3D expects {self.in_channels} channels, got {c}")
        xp = F.pad(x, (0, 0, self.delta - 1, 0))  # causal zero padding in time
        if (self.project_first_training or not torch.is_grad_enabled()) and self.out_channels * self.delta < self.in_channels:
            return self._project_gather(xp, t)
        per_vertex = max(1, b * c * (t + self.delta - 1) * self.seq_length)
        chunk = max(1, self.max_gather_elements // per_vertex)
        if chunk >= v:
            return self._block(xp, self.indices)
        recompute = self.use_checkpoint and torch.is_grad_enabled()
        outs = []
        for v0 in range(0, v, chunk):
            idx = self.indices[v0 : v0 + chunk]
            if recompute:
                outs.append(checkpoint(self._block, xp, idx, use_reentrant=False))
            else:
                outs.append(self._block(xp, idx))
        return torch.cat(outs, dim=3)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, seq_length={self.seq_length}, delta={self.delta}"
