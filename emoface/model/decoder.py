"""FaceFormer-style motion decoder with cached autoregressive decoding.

One branch's decoder (paper §3.1 and FaceFormer): the motion tokens are
``Linear(V*3 -> d)(previous offsets) + speaker embedding + intensity embedding``, plus the
periodic positional encoding; ``layers`` post-norm transformer decoder layers (the layout
of ``torch.nn.TransformerDecoderLayer``: self-attention with the causal temporal bias,
cross-attention to the audio features with the alignment mask, ReLU feed-forward of width
``ff_mult * d``); a zero-initialised ``Linear(d -> V*3)`` gives the offsets.

The layers are written out (rather than ``nn.TransformerDecoder``) so that decoding one
frame at a time can keep each layer's keys and values: a T-frame sequence then costs T
single-token steps instead of re-decoding the prefix every step, and gives the same result
as the parallel pass (to float rounding).

Because the audio features are resampled to the mesh frame count and the alignment mask
lets motion token ``t`` see audio token ``t`` only, cross-attention reduces exactly to the
projected value of audio token ``t`` (a softmax over one key is 1); :meth:`CrossAttention`
computes that directly, in O(T) instead of O(T^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from emoface.model.masks import periodic_positional_encoding, temporal_bias

__all__ = ["MotionDecoder", "DecoderCache"]


class SelfAttention(nn.Module):
    """Multi-head self-attention with an additive per-head bias and an optional KV cache."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"feature_dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """``x (B, Tq, d)``, ``bias (H, Tq, Tk)``; with ``cache``, keys/values are appended to it."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None and cache.get("capacity"):  # preallocated keys/values (no gradients)
            n = cache.get("n", 0)
            if "kbuf" not in cache:
                shape = (b, self.heads, cache["capacity"], d // self.heads)
                cache["kbuf"], cache["vbuf"] = k.new_empty(shape), v.new_empty(shape)
            cache["kbuf"][:, :, n : n + t] = k
            cache["vbuf"][:, :, n : n + t] = v
            cache["n"] = n + t
            k, v = cache["kbuf"][:, :, : n + t], cache["vbuf"][:, :, : n + t]
        elif cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0).to(q.dtype), dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class CrossAttention(nn.Module):
    """Cross-attention to the audio features under the diagonal alignment mask.

    With one visible key per query the attention weights are exactly 1, so the output at
    motion token ``t`` is ``out(value(audio_t))`` whatever the query and key projections are;
    they would receive no gradient and are therefore not created. (A test checks this against
    full masked attention built with :func:`emoface.model.masks.alignment_mask`.)
    """

    def __init__(self, dim: int):
        super().__init__()
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.value.weight)
        nn.init.zeros_(self.value.bias)
        nn.init.zeros_(self.out.bias)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        """``memory (B, T, d)`` aligned with the motion tokens -> ``(B, T, d)``."""
        return self.out(self.value(memory))


class DecoderLayer(nn.Module):
    """Post-norm decoder layer (self-attention, cross-attention, feed-forward), ReLU, dropout."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.self_attn = SelfAttention(dim, heads, dropout)
        self.cross_attn = CrossAttention(dim)
        self.ff1 = nn.Linear(dim, ff)
        self.ff2 = nn.Linear(ff, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None, bias: torch.Tensor, cache: dict | None = None,
                cross: torch.Tensor | None = None) -> torch.Tensor:
        """``cross``: :meth:`CrossAttention.forward` of ``memory`` computed before (then ``memory`` is unused)."""
        x = self.norm1(x + self.drop(self.self_attn(x, bias, cache)))
        x = self.norm2(x + self.drop(self.cross_attn(memory) if cross is None else cross))
        return self.norm3(x + self.drop(self.ff2(self.drop(F.relu(self.ff1(x))))))


@dataclass
class DecoderCache:
    """State of a cached autoregressive decode: the next position and each layer's keys/values.

    ``capacity`` > 0 (inference without gradients only): keys/values go into buffers of that
    many frames allocated once, and the temporal-bias rows and positional encodings are read
    from tables built once, so that a step costs the same at frame 10 and at frame 10,000
    (growing the keys with ``torch.cat`` copies the whole prefix at every step). The numbers
    are the same as without it: the tables hold the same elementwise values. With it, the
    work that does not depend on the fed-back frame is also done once for the whole sequence
    instead of once per step: each layer's cross-attention output for every frame (it depends
    on the audio features only), the style vector added to the positional encodings, and the
    output layer's weight transposed (a ``(1, d) @ (d, 3V)`` product reads it row by row:
    0.16 ms against 0.27 ms through ``F.linear``'s ``(3V, d)`` layout at 5023 vertices, BENCHMARKS.md).
    Same numbers to float rounding.
    """

    position: int = 0
    layers: list[dict] = field(default_factory=list)
    capacity: int = 0
    bias_table: torch.Tensor | None = None  # (H, capacity): bias of key distance capacity-1-k
    token_table: torch.Tensor | None = None  # (B, period, d): style vector + positional encoding
    cross: list[torch.Tensor] = field(default_factory=list)  # per layer (B, T, d): cross-attention outputs
    output_t: torch.Tensor | None = None  # (d, V*3): the output layer's weight, transposed and contiguous
    # (None: an output layer without a weight tensor, e.g. a dynamically quantised copy, runs as a module)


class MotionDecoder(nn.Module):
    """One branch's decoder: previous offsets + audio features -> next offsets.

    Args:
        n_vertices: V.
        dim: d (feature width).
        n_speakers: size of the speaker one-hot (training subjects).
        n_intensities: size of the intensity one-hot (2).
        layers, heads, ff_mult, dropout, period: see :class:`emoface.model.config.DecoderConfig`.
    """

    def __init__(self, n_vertices: int, dim: int, n_speakers: int, n_intensities: int = 2, layers: int = 1,
                 heads: int = 4, ff_mult: int = 2, dropout: float = 0.1, period: int = 30):
        super().__init__()
        self.n_vertices = n_vertices
        self.dim = dim
        self.heads = heads
        self.period = period
        self.vertex_map = nn.Linear(n_vertices * 3, dim)
        self.speaker_map = nn.Linear(n_speakers, dim, bias=False)
        self.intensity_map = nn.Linear(n_intensities, dim, bias=False)
        self.ppe_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ff_mult * dim, dropout) for _ in range(layers))
        self.output = nn.Linear(dim, n_vertices * 3)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def condition(self, speaker: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
        """Style vector ``(B, d)`` from ``speaker (B, S)`` and ``intensity (B, 2)`` (one-hot or weights)."""
        return self.speaker_map(speaker) + self.intensity_map(intensity)

    def _tokens(self, prev: torch.Tensor, cond: torch.Tensor, start: int) -> torch.Tensor:
        b, t = prev.shape[:2]
        x = self.vertex_map(prev.reshape(b, t, -1)) + cond.unsqueeze(1)
        pos = torch.arange(start, start + t, device=prev.device)
        x = x + periodic_positional_encoding(pos, self.dim, self.period).to(x.dtype)
        return self.ppe_dropout(x)

    def forward(self, prev: torch.Tensor, memory: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Parallel (teacher-forced) pass.

        Args:
            prev: ``(B, T, V, 3)`` offsets fed at each position (position t holds frame t-1,
                position 0 the start token).
            memory: ``(B, T, d)`` audio features at the mesh frame rate.
            cond: ``(B, d)`` from :meth:`condition`.
        Returns:
            ``(B, T, V, 3)`` predicted offsets of frames 0..T-1.
        """
        b, t = prev.shape[:2]
        if memory.shape[1] < t:
            raise ValueError(f"decoder: {t} motion tokens but only {memory.shape[1]} audio frames")
        x = self._tokens(prev, cond, 0)
        bias = temporal_bias(self.heads, t, t, self.period, device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, memory[:, :t], bias)
        return self.output(x).view(b, t, self.n_vertices, 3)

    def step(self, prev: torch.Tensor, memory: torch.Tensor, cond: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """One cached autoregressive step at position ``cache.position``.

        Args:
            prev: ``(B, V, 3)`` offsets of the previous frame (the start token at position 0).
            memory: ``(B, T, d)`` all audio features (only row ``cache.position`` is read, except
                with a capacity cache without gradients: its first step reads the first
                ``capacity`` rows and keeps their cross-attention outputs).
            cond: ``(B, d)``.
            cache: updated in place (keys/values appended, position advanced). A capacity cache
                serves one sequence: ``memory`` and ``cond`` must be the same at every step.
        Returns:
            ``(B, V, 3)`` offsets of frame ``cache.position`` (before the advance).
        """
        t = cache.position
        if t >= memory.shape[1]:
            raise ValueError(f"decoder step {t}: only {memory.shape[1]} audio frames")
        fixed = cache.capacity > 0 and not torch.is_grad_enabled()
        if not cache.layers:
            cache.layers = [{"capacity": cache.capacity} if fixed else {} for _ in self.layers]
        if fixed:
            if t >= cache.capacity:
                raise ValueError(f"decoder step {t}: the cache holds {cache.capacity} frames")
            if cache.bias_table is None:
                cap = cache.capacity
                if memory.shape[1] < cap:
                    raise ValueError(f"decoder cache of {cap} frames but only {memory.shape[1]} audio frames")
                # row ``cap - 1`` of the full bias holds -slope * floor((cap - 1 - j) / period) at key j
                cache.bias_table = temporal_bias(self.heads, 1, cap, self.period, query_offset=cap - 1,
                                                 device=prev.device, dtype=prev.dtype)[:, 0]
                pos = torch.arange(self.period, device=prev.device)
                ppe = periodic_positional_encoding(pos, self.dim, self.period).to(prev.dtype)
                cache.token_table = cond.unsqueeze(1) + ppe  # (B, period, d)
                cache.cross = [layer.cross_attn(memory[:, :cap]) for layer in self.layers]
                weight = self.output.weight  # a method, not a tensor, on a quantised copy (bench.bench_inference --int8)
                cache.output_t = weight.t().contiguous() if isinstance(weight, torch.Tensor) else None
            b = prev.shape[0]
            x = self.ppe_dropout(self.vertex_map(prev.reshape(b, 1, -1)) + cache.token_table[:, t % self.period : t % self.period + 1])
            bias = cache.bias_table[:, cache.capacity - 1 - t :].unsqueeze(1)  # keys 0..t of query t
            for layer, kv, cross in zip(self.layers, cache.layers, cache.cross):
                x = layer(x, None, bias, kv, cross=cross[:, t : t + 1])
            cache.position = t + 1
            if cache.output_t is None:
                return self.output(x[:, 0]).view(-1, self.n_vertices, 3)
            return torch.addmm(self.output.bias, x[:, 0], cache.output_t).view(-1, self.n_vertices, 3)
        x = self._tokens(prev.unsqueeze(1), cond, t)
        bias = temporal_bias(self.heads, 1, t + 1, self.period, query_offset=t, device=x.device, dtype=x.dtype)
        for layer, kv in zip(self.layers, cache.layers):
            x = layer(x, memory[:, t : t + 1], bias, kv)
        cache.position = t + 1
        return self.output(x[:, 0]).view(-1, self.n_vertices, 3)
