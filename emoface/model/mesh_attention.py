"""Mesh Attention (paper §3.2): a per-vertex, per-frame weight that fuses the two branches.

    F_audio = MLP([act(Linear_e(F_e)), act(Linear_c(F_c))])        (B, T, C/16)
    F       = F_audio[:, None] + E_vertex[:, :, None]              (B, V, T, C/16)
    w       = sigmoid(SpiralConv3D_n(... act(SpiralConv3D_1(F))))  (B, V, T, k), k = 1 or 3
    dM      = w * dM_e + (1 - w) * dM_c

``E_vertex`` is a learned per-vertex embedding (or, with ``vertex_embedding: template``, a
linear map of the template coordinates). The weight depends on the audio features only, so
it is computed for all frames at once, also during autoregressive decoding. Because F is a
broadcast sum, the first SpiralConv3D layer is computed exactly as a temporal convolution of
the audio part plus a spiral convolution of the vertex part (``separable_first_layer``; the
same weights, the same numbers, without the ``V * T * L`` gather).

Internally the tensors are channels-first, ``(B, C/16, T, V)`` (see
:mod:`emoface.model.spiralconv`); the paper's ``(B, V, T, C/16)`` is the same tensor permuted.

Memory: above ``max_activation_elements`` (``B * V * T * C``) the frames are processed in
chunks with a halo of ``layers * (delta - 1)`` earlier frames, which gives exactly the
unchunked result because every layer is causal with a window of ``delta`` frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emoface.model.config import MeshAttentionConfig
from emoface.model.spiralconv import SpiralConv3D

__all__ = ["MeshAttention", "fuse"]

_ACT = {"elu": nn.ELU, "relu": nn.ReLU, "gelu": nn.GELU}


def fuse(weight: torch.Tensor | None, emotion: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``w * emotion + (1 - w) * content`` (``weight (B, T, V, 1|3)``), or the sum when ``weight`` is None ("add")."""
    if weight is None:
        return emotion + content
    return weight * emotion + (1.0 - weight) * content


class MeshAttention(nn.Module):
    """Fusion weights from the emotion and content features.

    Args:
        feature_dim: C, the width of ``F_e`` and ``F_c``.
        spirals: ``(V, L)`` spiral indices of the topology.
        cfg: widths, layers, temporal window, chunking.
    """

    def __init__(self, feature_dim: int, spirals: torch.Tensor, cfg: MeshAttentionConfig):
        super().__init__()
        mid = cfg.mid_channels or max(1, feature_dim // 4)
        ch = cfg.channels or max(1, feature_dim // 16)
        hidden = cfg.hidden_channels or ch
        if cfg.layers < 1:
            raise ValueError(f"mesh_attention.layers must be >= 1, got {cfg.layers}")
        self.cfg = cfg
        self.n_vertices = int(spirals.shape[0])
        self.channels = ch
        self.delta = cfg.delta
        act = _ACT[cfg.activation]
        self.audio_e = nn.Sequential(nn.Linear(feature_dim, mid), act())
        self.audio_c = nn.Sequential(nn.Linear(feature_dim, mid), act())
        self.merge = nn.Linear(2 * mid, ch)
        if cfg.vertex_embedding == "learned":
            self.vertex_emb = nn.Parameter(torch.randn(self.n_vertices, ch) * 0.1)
            self.vertex_map = None
        else:
            self.vertex_emb = None
            self.vertex_map = nn.Linear(3, ch)
        widths = [ch] + [hidden] * (cfg.layers - 1) + [cfg.weight_channels]
        self.convs = nn.ModuleList(
            SpiralConv3D(widths[i], widths[i + 1], spirals, cfg.delta, cfg.max_gather_elements, cfg.checkpoint,
                         cfg.project_first_training)
            for i in range(cfg.layers)
        )
        self.act = act()
        self.widest = max(widths)

    def _vertex_embedding(self, template: torch.Tensor | None, batch: int) -> torch.Tensor:
        if self.vertex_emb is not None:
            return self.vertex_emb.unsqueeze(0).expand(batch, -1, -1)
        if template is None:
            raise ValueError("mesh_attention.vertex_embedding=template needs the template (B, V, 3)")
        return self.vertex_map(template)

    def _first_layer_separable(self, audio: torch.Tensor, vemb: torch.Tensor) -> torch.Tensor:
        """The first SpiralConv3D applied to ``F = audio (x) 1 + 1 (x) vemb`` without building F.

        With ``F[c, t, v] = a[c, t] + e[c, v]`` (zero before frame 0) the layer splits exactly:

            y[o, t, v] = b[o] + sum_{c,tau} (sum_l W[o,c,tau,l]) a[c, t-delta+1+tau]
                              + sum_{tau >= delta-1-t} sum_{c,l} W[o,c,tau,l] e[c, S(v)_l]

        a temporal convolution of the audio part (B, O, T) plus a spiral convolution of the
        vertex part per window offset (B, O, delta, V), summed over the offsets that fall on
        or after frame 0. Cost O(V L) + O(T) instead of O(V T L).
        """
        conv = self.convs[0]
        d = conv.delta
        a = audio.transpose(1, 2)  # (B, C, T)
        at = F.conv1d(F.pad(a, (d - 1, 0)), conv.weight.sum(dim=3), conv.bias)  # (B, O, T)
        e = vemb.transpose(1, 2)  # (B, C, V)
        g = e.index_select(2, conv.indices.reshape(-1)).view(e.shape[0], e.shape[1], -1, conv.seq_length)
        ev = torch.einsum("bcvl,octl->botv", g, conv.weight)  # (B, O, delta, V)
        suffix = ev.flip(2).cumsum(2).flip(2)  # suffix[:, :, k] = sum over tau >= k
        t = a.shape[2]
        k = (d - 1 - torch.arange(t, device=a.device)).clamp(min=0)
        return at.unsqueeze(3) + suffix.index_select(2, k)  # (B, O, T, V)

    def _weights(self, audio: torch.Tensor, vemb: torch.Tensor) -> torch.Tensor:
        """``audio (B, T, C)``, ``vemb (B, V, C)`` -> weights ``(B, k, T, V)``."""
        if self.cfg.separable_first_layer:
            x = self._first_layer_separable(audio, vemb)
            rest = self.convs[1:]
        else:
            x = self.convs[0](audio.transpose(1, 2).unsqueeze(3) + vemb.transpose(1, 2).unsqueeze(2))  # F (B, C, T, V)
            rest = self.convs[1:]
        for conv in rest:
            x = conv(self.act(x))
        return torch.sigmoid(x)

    def forward(self, emotion: torch.Tensor, content: torch.Tensor, template: torch.Tensor | None = None) -> torch.Tensor:
        """``emotion, content (B, T, C)`` [, ``template (B, V, 3)``] -> weight ``(B, T, V, k)`` in (0, 1)."""
        b, t, _ = emotion.shape
        audio = self.merge(torch.cat([self.audio_e(emotion), self.audio_c(content)], dim=-1))  # (B, T, C/16)
        vemb = self._vertex_embedding(template, b)
        per_frame = max(1, b * self.n_vertices * self.widest)
        chunk = max(1, self.cfg.max_activation_elements // per_frame)
        if chunk >= t:
            return self._weights(audio, vemb).permute(0, 2, 3, 1)
        halo = len(self.convs) * (self.delta - 1)
        outs = []
        for t0 in range(0, t, chunk):
            t1 = min(t, t0 + chunk)
            s = max(0, t0 - halo)
            w = self._weights(audio[:, s:t1], vemb)
            outs.append(w[:, :, t0 - s :])
        return torch.cat(outs, dim=2).permute(0, 2, 3, 1)
