"""One factory from the configuration to an :class:`~emoface.model.emoface.EmoFace`."""

from __future__ import annotations

import numpy as np
import torch

from emoface.mesh.spiral import spiral_indices
from emoface.model.config import ModelConfig
from emoface.model.emoface import EmoFace

__all__ = ["build_model"]


def build_model(cfg: ModelConfig, faces: np.ndarray, n_vertices: int, n_speakers: int,
                vertices: np.ndarray | None = None, encoder_configs: dict[str, str] | None = None) -> EmoFace:
    """EmoFace for the topology ``faces (F, 3)`` with ``n_vertices`` and ``n_speakers`` training speakers.

    ``vertices (V, 3)`` (any template) is used only where spirals need the
    nearest-neighbour fallback (vertices in tiny connected components). ``encoder_configs``
    (from a checkpoint) rebuilds the encoders without their pretrained snapshot folders.
    """
    spirals = None
    if not cfg.single_branch and cfg.fusion == "mesh_attention":
        ma = cfg.mesh_attention
        spirals = torch.from_numpy(np.array(spiral_indices(faces, n_vertices, ma.spiral_length, ma.dilation, vertices)))
    return EmoFace(cfg, n_vertices, n_speakers, spirals, encoder_configs)
