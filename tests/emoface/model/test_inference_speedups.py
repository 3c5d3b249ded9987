"""The inference-only fast paths (issue 17) give the numbers of the paths that training uses, to 1e-5.

- SpiralConv3D without gradients projects before gathering (Mesh Attention's last layer);
- the cached decoder without gradients writes keys/values into preallocated buffers and reads
  bias rows and positional encodings from tables;
- ``generate`` runs the CNN feature extractor once when both encoders' CNN weights are equal.

"Before" is computed through the unchanged gradient-mode code (``torch.enable_grad``), which is
the code that ran before these paths existed.
"""

import numpy as np
import pytest
import torch

from emoface.mesh.spiral import spiral_indices
from emoface.model.build import build_model
from emoface.model.config import EncoderConfig, ModelConfig
from emoface.model.emoface import EmoFace
from emoface.model.spiralconv import SpiralConv3D
from model_support import TINY


def _model(mesh, **kw) -> EmoFace:
    faces, verts = mesh
    torch.manual_seed(0)
    cfg = ModelConfig(feature_dim=32, content_encoder=EncoderConfig(**TINY), emotion_encoder=EncoderConfig(**TINY), **kw)
    cfg.mesh_attention.channels = 8
    model = build_model(cfg, faces, len(verts), 3, verts)
    for dec in (model.content_decoder, model.emotion_decoder):
        torch.nn.init.normal_(dec.output.weight, std=0.02)
    torch.nn.init.normal_(model.mesh_attention.convs[-1].weight, std=0.5)  # weights that differ per vertex
    return model.eval()


def _before(model: EmoFace, audio: torch.Tensor, tpl: torch.Tensor) -> torch.Tensor:
    """``generate``'s computation through the gradient-mode code (separate CNNs, gather + conv2d, torch.cat cache)."""
    with torch.enable_grad():
        t = model.n_frames_for(audio.shape[1])
        content = model.encode_content(audio, t)
        feats, _ = model.encode_emotion(audio, t)
        b = audio.shape[0]
        spk = torch.nn.functional.one_hot(torch.zeros(b, dtype=torch.long), model.n_speakers).float()
        inten = torch.nn.functional.one_hot(torch.zeros(b, dtype=torch.long), 2).float()
        tb = tpl.unsqueeze(0).expand(b, -1, -1)
        inputs = model.prepare(content, feats, spk, inten, tb)
        off = model.decode_autoregressive(inputs, torch.zeros_like(tb), cached=True)
        return (tb.unsqueeze(1) + off.fused).detach()


def test_spiralconv_project_then_gather_equals_gather_then_conv(mesh):
    faces, verts = mesh
    spirals = torch.from_numpy(np.array(spiral_indices(faces, len(verts), 9, 1, verts)))
    torch.manual_seed(0)
    conv = SpiralConv3D(8, 1, spirals, 3)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(2, 8, 37, len(verts))
    want = conv(x)  # gradients enabled: the training path
    with torch.no_grad():
        got = conv(x)
    assert want.requires_grad and not got.requires_grad
    torch.testing.assert_close(got, want.detach(), rtol=1e-6, atol=1e-5)  # outputs ~10: float rounding


@pytest.mark.parametrize("frames", [5, 64, 150])
def test_project_first_with_several_output_channels_equals_the_gather_path(mesh, frames):
    """The projected path's layout (output channels (l, o) of the convolution over time, the
    gather of vertex ``S(v)_l`` in spiral position ``l``'s plane) with 2 clips, 3 output channels
    and a 4-frame window, without gradients (chunks of 64 frames with their history: 150 frames
    end in a partial chunk; also chunks of 7) and in training (``project_first_training``: the
    output and every gradient)."""
    faces, verts = mesh
    spirals = torch.from_numpy(np.array(spiral_indices(faces, len(verts), 9, 2, verts)))
    x = torch.randn(2, 16, frames, len(verts), generator=torch.Generator().manual_seed(11))

    def run(project: bool, grad: bool):
        torch.manual_seed(0)
        conv = SpiralConv3D(16, 3, spirals, 4, project_first_training=project)  # 3 * 4 < 16: projects
        torch.nn.init.normal_(conv.bias)
        xi = x.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            y = conv(xi)
        if not grad:
            return [y]
        (y.square().sum() * 1e-3).backward()
        return [y.detach(), xi.grad, conv.weight.grad, conv.bias.grad]

    want = run(False, True)  # the gather + conv2d path
    assert want[0].shape == (2, 3, frames, len(verts)) and want[0].std() > 0.1
    torch.manual_seed(0)
    conv = SpiralConv3D(16, 3, spirals, 4)
    torch.nn.init.normal_(conv.bias)
    with torch.no_grad():
        small = conv._project_gather(torch.nn.functional.pad(x, (0, 0, 3, 0)), frames, frames_per_chunk=7)
        assert conv(x[:, :, :0]).shape == (2, 3, 0, len(verts))  # no frames: an empty output
    conv.project_first_training = True
    assert conv(x[:, :, :0].clone().requires_grad_(True)).shape == (2, 3, 0, len(verts))  # also in training
    torch.testing.assert_close(small, want[0], rtol=0, atol=1e-5)
    for got in (run(True, True), run(False, False)):
        torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-5)  # the outputs
        for a, b in zip(want[1:], got[1:]):  # gradients: float32 sums of up to 2 x 150 x 468 terms
            # in another order (the weight's), compared relative to their largest magnitude
            torch.testing.assert_close(b, a, rtol=0, atol=5e-5 * float(a.abs().max()))


@pytest.mark.parametrize("seconds", [3.0, 10.0])
def test_generate_equals_the_gradient_mode_code(mesh, seconds):
    model = _model(mesh)
    tpl = torch.from_numpy(mesh[1])
    audio = 0.1 * torch.randn(1, int(seconds * 16000), generator=torch.Generator().manual_seed(1))
    got = model.generate(audio, tpl).vertices
    want = _before(model, audio, tpl)
    assert got.shape == (1, int(seconds * 30), 468, 3)
    assert (want - tpl).abs().max() > 1e-3  # not trivially the template
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_decoder_cache_capacity_is_enforced(mesh):
    from emoface.model.decoder import DecoderCache

    model = _model(mesh)
    dec = model.content_decoder
    cache = DecoderCache(capacity=2)
    mem = torch.randn(1, 5, 32)
    cond = torch.zeros(1, 32)
    prev = torch.zeros(1, 468, 3)
    with torch.no_grad():
        dec.step(prev, mem, cond, cache)
        dec.step(prev, mem, cond, cache)
        with pytest.raises(ValueError, match="holds 2 frames"):
            dec.step(prev, mem, cond, cache)


def test_shared_cnn_only_when_the_weights_are_equal(mesh):
    model = _model(mesh)
    # random initialisation draws different CNN weights for the two encoders
    assert not model.content_encoder.same_cnn(model.emotion_encoder)
    model.emotion_encoder.wav2vec.feature_extractor.load_state_dict(
        model.content_encoder.wav2vec.feature_extractor.state_dict())
    assert model.content_encoder.same_cnn(model.emotion_encoder)
    tpl = torch.from_numpy(mesh[1])
    audio = 0.1 * torch.randn(1, 32000, generator=torch.Generator().manual_seed(2))
    calls = []
    hook = model.emotion_encoder.wav2vec.feature_extractor.register_forward_hook(lambda *_: calls.append(1))
    got = model.generate(audio, tpl)
    hook.remove()
    assert calls == []  # the emotion encoder's CNN did not run
    torch.testing.assert_close(got.vertices, _before(model, audio, tpl), rtol=0, atol=1e-5)
    with torch.no_grad():
        model.emotion_encoder.wav2vec.feature_extractor.conv_layers[3].conv.weight[0, 0, 0] += 1e-3
    assert not model.content_encoder.same_cnn(model.emotion_encoder)


def test_chunked_cnn_equals_the_whole_clip_pass(mesh):
    from emoface.model.encoders import CNN_CHUNK_FRAMES

    enc = _model(mesh).content_encoder
    assert enc.wav2vec.config.feat_extract_norm == "group"  # the global GroupNorm is the hard case
    audio = 0.1 * torch.randn(2, 16000 * 10 + 123, generator=torch.Generator().manual_seed(3))
    assert audio.shape[1] > enc.min_samples + CNN_CHUNK_FRAMES * enc.hop  # long enough to be chunked
    with torch.no_grad():
        got = enc.cnn_features(audio)
        whole = enc.wav2vec.feature_extractor((audio - audio.mean(1, keepdim=True))
                                              / torch.sqrt(audio.var(1, keepdim=True, unbiased=False) + 1e-7))
    assert got.shape == whole.transpose(1, 2).shape
    torch.testing.assert_close(got, whole.transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_encoder_checkpointing_gives_the_same_gradients_bit_for_bit():
    def grads(ckpt: bool):
        from emoface.model.encoders import AudioEncoder

        torch.manual_seed(0)
        enc = AudioEncoder(EncoderConfig(**TINY, checkpoint=ckpt), 16).train()  # dropout 0.1 active
        audio = 0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(4))
        torch.manual_seed(5)
        enc(audio, 30).square().mean().backward()
        return [p.grad.clone() for p in enc.parameters() if p.grad is not None]

    a, b = grads(False), grads(True)
    assert len(a) == len(b) > 10
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_bfloat16_encoders_are_an_option_close_to_float32(mesh):
    model = _model(mesh)
    tpl = torch.from_numpy(mesh[1])
    audio = 0.1 * torch.randn(1, 32000, generator=torch.Generator().manual_seed(6))
    a = model.generate(audio, tpl).vertices
    b = model.generate(audio, tpl, encoder_dtype=torch.bfloat16)
    assert b.vertices.dtype == torch.float32 and b.emotion_logits.dtype == torch.float32
    err = (a - b.vertices).abs().max()
    assert 0 < err < 0.1 * (a - tpl).abs().max()  # not the exact path, but close


def test_project_first_in_training_gives_the_gradients_to_float_rounding(mesh):
    faces, verts = mesh
    spirals = torch.from_numpy(np.array(spiral_indices(faces, len(verts), 9, 1, verts)))
    x = torch.randn(1, 8, 21, len(verts), generator=torch.Generator().manual_seed(7))

    def run(flag: bool):
        torch.manual_seed(0)
        conv = SpiralConv3D(8, 1, spirals, 3, project_first_training=flag)
        xi = x.clone().requires_grad_(True)
        y = conv(xi)
        (y.square().sum() * 1e-3).backward()
        return y.detach(), xi.grad, conv.weight.grad, conv.bias.grad

    for a, b in zip(run(False), run(True)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def _decode_steps(dec, start: torch.Tensor, memory: torch.Tensor, cond: torch.Tensor, capacity: int,
                  n: int) -> torch.Tensor:
    """``n`` cached steps of ``dec`` from ``start`` (a capacity cache of ``capacity`` frames; 0: the
    growing cache of the gradient-mode code), stacked along time."""
    from emoface.model.decoder import DecoderCache

    cache, prev, out = DecoderCache(capacity=capacity), start, []
    for _ in range(n):
        prev = dec.step(prev, memory, cond, cache)
        out.append(prev)
    return torch.stack(out, 1)


@pytest.mark.parametrize("training", [False, True])
def test_capacity_decoder_steps_equal_the_gradient_mode_steps(training):
    """The capacity cache's once-per-clip work (cross-attention of every frame, style + positional
    table, transposed output weight) against the step of the training code, on a decoder with 3
    layers, a non-zero output bias, 2 clips of different styles and more audio frames than steps;
    in training mode (dropout under ``no_grad``, as validation can run) with the same random draws."""
    from emoface.model.decoder import DecoderCache, MotionDecoder

    torch.manual_seed(0)
    dec = MotionDecoder(40, 16, 3, layers=3, heads=4, dropout=0.3, period=5)
    torch.nn.init.normal_(dec.output.weight, std=0.05)
    torch.nn.init.normal_(dec.output.bias, std=0.05)
    dec.train(training)
    g = torch.Generator().manual_seed(1)
    memory = torch.randn(2, 19, 16, generator=g)  # 19 audio frames, 12 steps
    cond = dec.condition(torch.eye(3)[[0, 2]], torch.eye(2)[[0, 1]]).detach()
    start = 0.01 * torch.randn(2, 40, 3, generator=g)

    def decode(capacity: int) -> torch.Tensor:
        torch.manual_seed(5)
        return _decode_steps(dec, start, memory, cond, capacity, 12)

    with torch.no_grad():
        fast = decode(12)
    with torch.enable_grad():
        want = decode(0).detach()
    assert (want - start.unsqueeze(1)).abs().max() > 1e-2  # the steps move the frame
    torch.testing.assert_close(fast, want, rtol=0, atol=1e-5)
    with torch.no_grad(), pytest.raises(ValueError, match="only 19 audio frames"):
        dec.step(start, memory, cond, DecoderCache(capacity=20))


def test_capacity_decoder_runs_a_quantised_output_layer_as_a_module():
    """A dynamically quantised output layer (``bench.bench_inference --int8``) has no weight tensor
    to transpose: the capacity steps run it as a module and equal the uncached steps."""
    import warnings

    from emoface.model.decoder import MotionDecoder

    quantize_dynamic = pytest.importorskip("torch.ao.quantization").quantize_dynamic
    torch.manual_seed(0)
    dec = MotionDecoder(40, 16, 3, layers=2, heads=4, dropout=0.0, period=5).eval()
    torch.nn.init.normal_(dec.output.weight, std=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.13: the quantised-tensor API is deprecated
        q = quantize_dynamic(dec, {"output"}, dtype=torch.qint8)  # the output layer only: the rest stays exact
    assert not isinstance(q.output.weight, torch.Tensor)
    g = torch.Generator().manual_seed(1)
    memory = torch.randn(1, 8, 16, generator=g)
    cond = q.condition(torch.eye(3)[[1]], torch.eye(2)[[0]]).detach()
    start = 0.01 * torch.randn(1, 40, 3, generator=g)

    with torch.no_grad():
        fast, want = _decode_steps(q, start, memory, cond, 6, 6), _decode_steps(q, start, memory, cond, 0, 6)
    assert (want - start.unsqueeze(1)).abs().max() > 1e-2
    torch.testing.assert_close(fast, want, rtol=0, atol=1e-5)


def test_mesh_attention_with_project_first_training_gives_the_gradients_to_float_rounding(mesh):
    """The paper preset's ``project_first_training``, through the whole Mesh Attention (separable
    first layer, ELU, the projected last layer, sigmoid): the weights and every gradient."""
    from emoface.model.config import MeshAttentionConfig
    from emoface.model.mesh_attention import MeshAttention

    faces, verts = mesh
    spirals = torch.from_numpy(np.array(spiral_indices(faces, len(verts), 9, 2, verts)))
    g = torch.Generator().manual_seed(3)
    e, c = torch.randn(2, 23, 32, generator=g), torch.randn(2, 23, 32, generator=g)

    def run(flag: bool):
        torch.manual_seed(0)
        ma = MeshAttention(32, spirals, MeshAttentionConfig(channels=8, dilation=2, project_first_training=flag))
        ei, ci = e.clone().requires_grad_(True), c.clone().requires_grad_(True)
        w = ma(ei, ci)
        (w.square().sum() * 1e-2).backward()
        return [w.detach(), ei.grad, ci.grad, *(p.grad for p in ma.parameters())]

    off, on = run(False), run(True)
    assert off[0].std() > 1e-3  # weights that differ per vertex-frame
    for a, b in zip(off, on):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
