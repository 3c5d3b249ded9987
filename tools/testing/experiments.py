"""The tiny experiment config the training and evaluation tests train with (seconds on a CPU).

``tiny_experiment("name")`` is a dict as a YAML preset holds it: a one-layer wav2vec2-shaped
encoder of width ``width`` for both branches, 4 mesh-attention channels, one epoch, one
thread, no scheduled sampling (``schedule.theta: 0``), ``optim.lr: 1e-3``. A test that needs
something else passes it per section: ``train={"epochs": 2}`` updates that section,
``optim=None`` leaves the section out (the library's default then applies).
"""

from __future__ import annotations

from typing import Any

__all__ = ["tiny_encoder", "tiny_experiment"]


def tiny_encoder(width: int = 32) -> dict[str, Any]:
    """A one-layer audio encoder config: ``width`` hidden units, twice that in the feed-forward layer."""
    return {"hidden_size": width, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 2 * width,
            "conv_dim": [width // 2] * 7, "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2}


def tiny_experiment(name: str = "tiny", width: int = 32, **sections: dict[str, Any] | None) -> dict[str, Any]:
    """The tiny config named ``name`` (``width``: the feature and encoder width); ``sections`` update or drop its sections."""
    encoder = tiny_encoder(width)
    cfg: dict[str, Any] = {
        "name": name,
        "model": {"feature_dim": width, "content_encoder": encoder, "emotion_encoder": encoder,
                  "mesh_attention": {"channels": 4}},
        "train": {"epochs": 1, "threads": 1},
        "schedule": {"theta": 0},
        "optim": {"lr": 1e-3},
    }
    for key, value in sections.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg.setdefault(key, {}).update(value)
    return cfg


def flat_overrides(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested experiment dict (:func:`tiny_experiment`) as ``--set``-style dotted keys; the encoders stay whole."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("content_encoder", "emotion_encoder"):
            out.update(flat_overrides(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
