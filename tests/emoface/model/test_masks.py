"""Decoder masks and positional encoding work for any length (no 600-frame cap)."""

import math

import torch

from emoface.model.decoder import CrossAttention
from emoface.model.masks import (
    alibi_slopes,
    alignment_mask,
    periodic_positional_encoding,
    temporal_bias,
)


def test_alibi_slopes_match_faceformer_values():
    assert alibi_slopes(4) == [0.25, 0.0625, 0.015625, 0.00390625]
    s6 = alibi_slopes(6)
    assert len(s6) == 6 and s6[:4] == alibi_slopes(4)


def test_temporal_bias_is_causal_for_2000_frames():
    t, p = 2000, 30
    bias = temporal_bias(4, t, t, p)
    assert bias.shape == (4, t, t)
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    assert torch.isinf(bias[:, future]).all() and (bias[:, future] < 0).all()
    assert torch.isfinite(bias[:, ~future]).all()
    # values: -slope * floor((i - j) / period)
    for i, j in ((0, 0), (29, 0), (30, 0), (1999, 1), (1999, 1999), (1500, 700)):
        for h, m in enumerate(alibi_slopes(4)):
            assert bias[h, i, j].item() == -m * math.floor((i - j) / p)
    # a row computed on its own (cached decoding) equals the full matrix's row
    for i in (0, 599, 600, 1999):
        row = temporal_bias(4, 1, i + 1, p, query_offset=i)
        assert torch.equal(row[:, 0], bias[:, i, : i + 1])


def test_alignment_mask_is_diagonal_for_any_length():
    m = alignment_mask(2000, 2000)
    assert torch.equal(torch.isfinite(m), torch.eye(2000, dtype=torch.bool))
    row = alignment_mask(1, 2000, query_offset=1234)
    assert torch.isfinite(row[0]).nonzero().flatten().tolist() == [1234]


def test_periodic_positional_encoding_repeats_with_the_period():
    pe = periodic_positional_encoding(torch.arange(2000), 64, 30)
    assert pe.shape == (2000, 64)
    torch.testing.assert_close(pe[30:60], pe[:30])
    torch.testing.assert_close(pe[1990], pe[1990 % 30])
    assert not torch.allclose(pe[0], pe[1])
    assert periodic_positional_encoding(torch.arange(5), 7, 30).shape == (5, 7)


def test_cross_attention_equals_full_attention_under_the_alignment_mask():
    torch.manual_seed(0)
    d, heads, t = 16, 4, 40
    ca = CrossAttention(d)
    mha = torch.nn.MultiheadAttention(d, heads, batch_first=True)
    with torch.no_grad():  # same value and output projections, arbitrary query/key projections
        mha.in_proj_weight[2 * d :] = ca.value.weight
        mha.in_proj_bias[2 * d :] = ca.value.bias
        mha.out_proj.weight.copy_(ca.out.weight)
        mha.out_proj.bias.copy_(ca.out.bias)
    x, mem = torch.randn(2, t, d), torch.randn(2, t, d)
    ref, _ = mha(x, mem, mem, attn_mask=alignment_mask(t, t))
    torch.testing.assert_close(ca(mem), ref, rtol=1e-5, atol=1e-5)
