"""The EmoFace model: cached autoregression, parallel/step consistency, variants, inference API, encoders."""

import numpy as np
import pytest
import torch

from emoface.model.build import build_model
from emoface.model.conditioning import (
    ConditionError,
    emotion_weights,
    intensity_weights,
    parse_emotion_mix,
    speaker_weights,
)
from emoface.model.config import EncoderConfig, ModelConfig
from emoface.model.decoder import MotionDecoder
from emoface.model.emoface import shift_frames
from emoface.model.encoders import AudioEncoder, EncoderError
from model_support import TINY


def _model(mesh, **kw):
    faces, verts = mesh
    torch.manual_seed(0)
    cfg = ModelConfig(feature_dim=32, content_encoder=EncoderConfig(**TINY), emotion_encoder=EncoderConfig(**TINY), **kw)
    cfg.mesh_attention.channels = 4
    model = build_model(cfg, faces, len(verts), 3, verts)
    for dec in (model.content_decoder, model.emotion_decoder):
        if dec is not None:  # the zero-initialised output would make every comparison trivial
            torch.nn.init.normal_(dec.output.weight, std=0.02)
    if model.emotion_label is not None:
        torch.nn.init.normal_(model.emotion_label.weight)
    return model.eval()


@pytest.mark.parametrize("variant", [{}, {"fusion": "add"}, {"single_branch": True}, {"feedback": "own"}])
def test_cached_equals_uncached_autoregression(mesh, variant):
    model = _model(mesh, **variant)
    audio = torch.randn(2, 16000)
    tpl = torch.from_numpy(mesh[1])
    first = tpl + 0.002 * torch.randn_like(tpl)
    a = model.generate(audio, tpl, speaker=[0, 2], intensity=[0, 1], first_frame=first, cached=True)
    b = model.generate(audio, tpl, speaker=[0, 2], intensity=[0, 1], first_frame=first, cached=False)
    assert a.vertices.shape == (2, 30, 468, 3)
    assert a.vertices.abs().max() > 0 and (a.vertices - tpl).abs().max() > 1e-4
    torch.testing.assert_close(a.vertices, b.vertices, rtol=0, atol=1e-5)


def test_parallel_pass_matches_autoregression_on_its_own_outputs(mesh):
    model = _model(mesh)
    audio = torch.randn(1, 16000)
    tpl = torch.from_numpy(mesh[1]).unsqueeze(0)
    with torch.no_grad():
        c = model.encode_content(audio, 20)
        e, _ = model.encode_emotion(audio, 20)
        inputs = model.prepare(c, e, torch.eye(3)[:1], torch.eye(2)[:1], tpl)
        start = 0.001 * torch.randn(1, 468, 3)
        ar = model.decode_autoregressive(inputs, start)
        par = model.decode(inputs, shift_frames(ar.fused, start))
    torch.testing.assert_close(par.fused, ar.fused, rtol=0, atol=1e-5)
    torch.testing.assert_close(par.emotion, ar.emotion, rtol=0, atol=1e-5)


def test_decoder_is_causal_for_2000_frames():
    torch.manual_seed(0)
    dec = MotionDecoder(10, 16, 2, layers=1).eval()
    torch.nn.init.normal_(dec.output.weight)
    prev, mem, cond = torch.randn(1, 2000, 10, 3), torch.randn(1, 2000, 16), torch.randn(1, 16)
    with torch.no_grad():
        y = dec(prev, mem, cond)
        prev2, mem2 = prev.clone(), mem.clone()
        prev2[:, 1501:] += 1.0
        mem2[:, 1501:] += 1.0
        y2 = dec(prev2, mem2, cond)
    torch.testing.assert_close(y2[:, :1501], y[:, :1501], rtol=0, atol=0)
    assert not torch.allclose(y2[:, 1501], y[:, 1501])


def test_predict_api_and_emotion_conditioning(mesh):
    model = _model(mesh)
    audio = np.random.default_rng(0).normal(size=8000).astype(np.float32)
    tpl = mesh[1]
    out = model.predict(audio, tpl, speaker=1, intensity=1)
    assert out.shape == (15, 468, 3) and out.dtype == torch.float32
    happy = model.predict(audio, tpl, emotion="happy")
    sad = model.predict(audio, tpl, emotion="sad")
    mix = model.predict(audio, tpl, emotion="happy=0.5,sad=0.5")
    assert not torch.allclose(happy, sad)
    assert not torch.allclose(mix, happy) and not torch.allclose(mix, sad)
    assert model.predict(audio, tpl, n_frames=7).shape == (7, 468, 3)
    with pytest.raises(ConditionError):
        model.predict(audio, tpl, emotion="bored")
    with pytest.raises(ConditionError):
        model.predict(audio, tpl, speaker=3)
    model.cfg.emotion_label.enabled = False
    model.emotion_label = None
    with pytest.raises(ValueError, match="emotion-label"):
        model.predict(audio, tpl, emotion="happy")


def test_condition_helpers():
    assert parse_emotion_mix("happy=0.7, sad=0.3") == {"happy": 0.7, "sad": 0.3}
    w = emotion_weights({"happy": 3, "sad": 1}, 8)
    assert torch.allclose(w, torch.tensor([[0, 0, 0.75, 0.25, 0, 0, 0, 0]]))
    assert emotion_weights(2, 8, batch=3).shape == (3, 8)
    torch.testing.assert_close(intensity_weights(0.25), torch.tensor([[0.75, 0.25]]))
    torch.testing.assert_close(speaker_weights(np.array([0.5, 0.5, 0.0]), 3), torch.tensor([[0.5, 0.5, 0.0]]))
    torch.testing.assert_close(speaker_weights(np.int64(2), 3, batch=2), torch.tensor([[0.0, 0, 1], [0, 0, 1]]))
    with pytest.raises(ConditionError):
        parse_emotion_mix("happy")


def test_encoder_interpolates_to_any_frame_count():
    torch.manual_seed(0)
    for mode in ("features", "output"):
        enc = AudioEncoder(EncoderConfig(**TINY, interpolate=mode), 8).eval()
        with torch.no_grad():
            for t in (1, 17, 45, 300):
                assert enc(torch.randn(2, 24000), t).shape == (2, t, 8)
            assert enc(torch.randn(1, 100), 3).shape == (1, 3, 8)  # shorter than the CNN's receptive field


def test_pretrained_encoder_from_local_snapshot(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    with pytest.raises(EncoderError, match="wav2vec2-base-960h"):
        AudioEncoder(EncoderConfig(pretrained=str(tmp_path / "missing")), 8)
    snap = tmp_path / "w2v"
    wc = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        conv_dim=[16] * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    torch.manual_seed(1)
    Wav2Vec2Model(wc).save_pretrained(snap)
    enc = AudioEncoder(EncoderConfig(pretrained=str(snap)), 8)
    ref = Wav2Vec2Model.from_pretrained(snap)
    torch.testing.assert_close(enc.wav2vec.encoder.layers[0].attention.k_proj.weight,
                               ref.encoder.layers[0].attention.k_proj.weight)
    assert not any(p.requires_grad for p in enc.wav2vec.feature_extractor.parameters())
    assert all(p.requires_grad for p in enc.wav2vec.encoder.parameters())
    # a checkpointed architecture rebuilds without the snapshot folder
    again = AudioEncoder(EncoderConfig(pretrained=str(tmp_path / "gone")), 8, hf_config=enc.hf_config())
    assert again.wav2vec.config.hidden_size == 32
