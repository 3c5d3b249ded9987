"""SpiralConv3D is causal in time, local on the mesh, equal to its Linear definition, and chunks exactly."""

import numpy as np
import pytest
import torch

from emoface.mesh.spiral import spiral_indices
from emoface.model.config import MeshAttentionConfig
from emoface.model.mesh_attention import MeshAttention, fuse
from emoface.model.spiralconv import SpiralConv3D
from tools.demo_head.canonical_mesh import load_canonical_mesh


@pytest.fixture(scope="module")
def spirals():
    m = load_canonical_mesh()
    return torch.from_numpy(np.array(spiral_indices(m.faces, 468, 9, 1, m.vertices)))


def _conv(spirals, delta=3, cin=4, cout=5, **kw):
    torch.manual_seed(0)
    conv = SpiralConv3D(cin, cout, spirals, delta, **kw)
    torch.nn.init.normal_(conv.bias)
    return conv


def test_causal_in_time(spirals):
    conv = _conv(spirals)
    x = torch.randn(2, 4, 20, 468)
    y = conv(x)
    for t in (0, 7, 18):
        x2 = x.clone()
        x2[:, :, t + 1 :] = torch.randn_like(x2[:, :, t + 1 :]) * 10
        y2 = conv(x2)
        torch.testing.assert_close(y2[:, :, : t + 1], y[:, :, : t + 1], rtol=0, atol=0)
        assert not torch.allclose(y2[:, :, t + 1], y[:, :, t + 1])
    # the window is delta frames: a change at frame t reaches frames t .. t + delta - 1 only
    x3 = x.clone()
    x3[:, :, 5] += 1.0
    changed = (conv(x3) - y).abs().amax(dim=(0, 1, 3)) > 0
    assert changed.nonzero().flatten().tolist() == [5, 6, 7]


def test_local_on_the_mesh(spirals):
    conv = _conv(spirals, delta=2)
    x = torch.randn(1, 4, 6, 468)
    y = conv(x)
    v = 100
    spiral = set(spirals[v].tolist())
    outside = [u for u in range(468) if u not in spiral][:40]
    x2 = x.clone()
    x2[..., outside] = torch.randn_like(x2[..., outside]) * 10
    torch.testing.assert_close(conv(x2)[..., v], y[..., v], rtol=0, atol=0)
    for u in spiral:  # every spiral neighbour matters
        x3 = x.clone()
        x3[..., u] += 1.0
        assert not torch.allclose(conv(x3)[..., v], y[..., v])


def test_equals_linear_on_concatenated_neighbourhood(spirals):
    conv = _conv(spirals, delta=3, cin=2, cout=3)
    x = torch.randn(1, 2, 5, 468)
    y = conv(x)
    xp = torch.nn.functional.pad(x, (0, 0, 2, 0))
    for v, t in ((0, 0), (17, 4), (300, 2)):
        idx = spirals[v]
        # (C_in, delta, L) block of the neighbourhood, as the weight is laid out
        block = xp[0, :, t : t + 3][:, :, idx]
        ref = (conv.weight * block.unsqueeze(0)).sum(dim=(1, 2, 3)) + conv.bias
        torch.testing.assert_close(y[0, :, t, v], ref, rtol=1e-5, atol=1e-6)


def test_vertex_chunking_and_checkpointing_are_exact(spirals):
    full = _conv(spirals, delta=3)
    chunked = _conv(spirals, delta=3, max_gather_elements=4 * 22 * 9 * 50)  # ~50 vertices per chunk
    x = torch.randn(1, 4, 20, 468, requires_grad=True)
    y1 = full(x)
    y1.square().sum().backward()
    g1, gw1 = x.grad.clone(), full.weight.grad.clone()
    x.grad = None
    y2 = chunked(x)
    y2.square().sum().backward()
    torch.testing.assert_close(y2, y1, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad, g1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked.weight.grad, gw1, rtol=1e-4, atol=1e-5 * float(gw1.abs().max()))


def test_mesh_attention_time_chunking_is_exact(spirals):
    torch.manual_seed(0)
    cfg = MeshAttentionConfig(channels=4, layers=3, delta=3)
    ma = MeshAttention(32, spirals, cfg)
    fe, fc = torch.randn(1, 50, 32), torch.randn(1, 50, 32)
    w = ma(fe, fc)
    assert w.shape == (1, 50, 468, 1) and (w > 0).all() and (w < 1).all()
    ma.cfg = MeshAttentionConfig(channels=4, layers=3, delta=3, max_activation_elements=468 * 4 * 7)
    torch.testing.assert_close(ma(fe, fc), w, rtol=1e-6, atol=1e-6)
    # causal end to end: the weight at frame t ignores later audio
    fe2 = fe.clone()
    fe2[:, 30:] += 5.0
    torch.testing.assert_close(ma(fe2, fc)[:, :30], w[:, :30])


def test_fusion_formula():
    e, c = torch.full((1, 2, 3, 3), 2.0), torch.full((1, 2, 3, 3), -1.0)
    w = torch.full((1, 2, 3, 1), 0.25)
    torch.testing.assert_close(fuse(w, e, c), torch.full_like(e, 0.25 * 2 - 0.75))
    torch.testing.assert_close(fuse(None, e, c), e + c)


def test_separable_first_layer_is_exact(spirals):
    torch.manual_seed(0)
    ma = MeshAttention(32, spirals, MeshAttentionConfig(channels=4, layers=2, delta=3))
    for p in ma.convs.parameters():
        torch.nn.init.normal_(p, std=0.3)  # non-zero bias too
    fe, fc = torch.randn(2, 12, 32, requires_grad=True), torch.randn(2, 12, 32)
    w_fast = ma(fe, fc)
    g_fast = torch.autograd.grad(w_fast.square().sum(), [fe, ma.vertex_emb, ma.convs[0].weight])
    ma.cfg = MeshAttentionConfig(channels=4, layers=2, delta=3, separable_first_layer=False)
    w_ref = ma(fe, fc)
    g_ref = torch.autograd.grad(w_ref.square().sum(), [fe, ma.vertex_emb, ma.convs[0].weight])
    torch.testing.assert_close(w_fast, w_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5 * float(b.abs().max()))
