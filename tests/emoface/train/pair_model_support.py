"""The tiny two-branch model of the pair-step tests (cross reconstruction, work sharing)."""

from __future__ import annotations

import numpy as np
import torch

from emoface.model.build import build_model
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
