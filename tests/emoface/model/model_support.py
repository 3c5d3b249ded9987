"""What the model tests share: a tiny wav2vec2-shaped encoder config and the demo-head mesh (imported by
name; the ``mesh`` fixture is in conftest.py)."""

from __future__ import annotations

import numpy as np

from tools.demo_head.canonical_mesh import load_canonical_mesh

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)


def canonical_mesh() -> tuple[np.ndarray, np.ndarray]:
    """``(faces (F, 3), vertices (V, 3) metres)`` of the MediaPipe canonical face mesh."""
    m = load_canonical_mesh()
    return m.faces, (m.vertices / 100.0).astype(np.float32)
