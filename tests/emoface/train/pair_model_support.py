"""The tiny two-branch model of the pair-step tests (cross reconstruction, work sharing)."""

from __future__ import annotations

import numpy as np
import torch

from emoface.model.build import build_model
from emoface.train.pairs import PairBatch
from emoface.model.config import EncoderConfig, ModelConfig
from tools.demo_head.canonical_mesh import load_canonical_mesh

TINY = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8,) * 7,
            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)


def tiny_pair_model(frozen: bool = False):
    """``(model, template)``: seed 0, decoder outputs drawn (zero-init outputs would make every check trivial);
    ``frozen``: both encoders under one frozen CNN, as a pretrained snapshot with ``freeze_feature_extractor``."""
    m = load_canonical_mesh()
    verts = (m.vertices / 100.0).astype(np.float32)
    torch.manual_seed(0)
    cfg = ModelConfig(feature_dim=16, content_encoder=EncoderConfig(**TINY), emotion_encoder=EncoderConfig(**TINY))
    cfg.mesh_attention.channels = 2
    model = build_model(cfg, m.faces, len(verts), 2, verts)
    for dec in (model.content_decoder, model.emotion_decoder):
        torch.nn.init.normal_(dec.output.weight, std=0.02)
    if frozen:
        model.emotion_encoder.wav2vec.feature_extractor.load_state_dict(
            model.content_encoder.wav2vec.feature_extractor.state_dict())
        model.content_encoder.wav2vec.feature_extractor._freeze_parameters()
        model.emotion_encoder.wav2vec.feature_extractor._freeze_parameters()
    return model, torch.from_numpy(verts)


def pair_batch(template: torch.Tensor, t1: int, t2: int) -> PairBatch:
    """One pair of random clips of ``t1`` and ``t2`` frames around ``template`` (seed 1), 16 kHz audio of their length."""
    g = torch.Generator().manual_seed(1)
    v = template.shape[0]

    def clip(t):
        return template + 0.002 * torch.randn(1, t, v, 3, generator=g)

    return PairBatch(["a"], ["b"], torch.randn(1, t1 * 16000 // 30, generator=g),
                     torch.randn(1, t2 * 16000 // 30, generator=g), clip(t1), clip(t2), template[None],
                     torch.tensor([1]), torch.tensor([0]), torch.tensor([4]), torch.tensor([0]), torch.tensor([1]))
