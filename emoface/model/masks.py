"""Positional encoding and attention masks of the FaceFormer-style decoder, for any length.

FaceFormer builds these once for 600 frames; here they are functions of the positions, so a
sequence of any length (and a single new row for cached autoregressive decoding) gets
exactly the rows a full mask would hold.

- Periodic positional encoding (PPE): the sinusoid of ``t mod period``.
- Temporal bias (ALiBi-style, causal): query ``i`` and key ``j`` get
  ``-m_h * floor((i - j) / period)`` for ``j <= i`` and ``-inf`` for ``j > i``, with the
  ALiBi head slopes ``m_h`` (0.25, 0.0625, ... for 4 heads).
- Alignment mask: motion token ``t`` attends to audio token ``t`` only (the audio features
  are resampled to the mesh frame count, so the two sequences have equal length).
"""

from __future__ import annotations

import math

import torch

__all__ = ["alibi_slopes", "periodic_positional_encoding", "temporal_bias", "alignment_mask"]


def alibi_slopes(n_heads: int) -> list[float]:
    """ALiBi head slopes (Press et al. 2022): a geometric sequence, extended for non-powers of 2."""
    if n_heads < 1:
        raise ValueError(f"n_heads must be >= 1, got {n_heads}")

    def power_of_2(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_2(n_heads)
    closest = 2 ** math.floor(math.log2(n_heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: n_heads - closest]


def periodic_positional_encoding(positions: torch.Tensor, dim: int, period: int) -> torch.Tensor:
    """PPE rows for integer ``positions (T,)`` -> ``(T, dim)`` float32 (sin on even, cos on odd channels)."""
    pos = (positions.long() % period).to(torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) * (-math.log(10000.0) / dim))
    pe = torch.zeros(positions.shape[0], dim, dtype=torch.float32, device=positions.device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


def temporal_bias(
    n_heads: int,
    n_queries: int,
    n_keys: int,
    period: int,
    query_offset: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Causal ALiBi temporal bias ``(n_heads, n_queries, n_keys)``.

    Query ``q`` is at absolute position ``query_offset + q``; keys sit at ``0 .. n_keys-1``.
    Allowed entries hold ``-slope_h * floor((i - j) / period)`` (0 on the diagonal),
    future keys hold ``-inf``.
    """
    i = torch.arange(query_offset, query_offset + n_queries, device=device).unsqueeze(1)
    j = torch.arange(n_keys, device=device).unsqueeze(0)
    dist = torch.div(i - j, period, rounding_mode="floor").to(dtype)
    slopes = torch.tensor(alibi_slopes(n_heads), dtype=dtype, device=device).view(-1, 1, 1)
    bias = -slopes * dist.unsqueeze(0)
    return bias.masked_fill((j > i).unsqueeze(0), float("-inf"))


def alignment_mask(
    n_queries: int,
    n_keys: int,
    query_offset: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Additive cross-attention mask ``(n_queries, n_keys)``: 0 where key == query position, else -inf."""
    i = torch.arange(query_offset, query_offset + n_queries, device=device).unsqueeze(1)
    j = torch.arange(n_keys, device=device).unsqueeze(0)
    if query_offset + n_queries > n_keys:
        raise ValueError(f"alignment mask: query positions up to {query_offset + n_queries - 1} but only {n_keys} audio frames")
    out = torch.zeros(n_queries, n_keys, dtype=dtype, device=device)
    return out.masked_fill(i != j, float("-inf"))
