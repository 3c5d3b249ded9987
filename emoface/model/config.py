"""Typed configuration of the EmoFace model (defaults and their reasons: docs/model.md section 3).

Every value the paper leaves open (what the paper leaves open) is a field here; ``docs/model.md``
says which choice each default makes and why. YAML presets in ``configs/`` only override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from emoface.utils.config import bounded

__all__ = ["EncoderConfig", "DecoderConfig", "MeshAttentionConfig", "EmotionLabelConfig", "ModelConfig"]


@dataclass
class EncoderConfig:
    """One wav2vec 2.0 audio encoder (``transformers.Wav2Vec2Model``).

    With ``pretrained`` set, the architecture and weights come from that local Hugging Face
    snapshot folder (``config.json`` + weights) and the fields describing the architecture
    below are ignored; otherwise the encoder is randomly initialised from them.
    """

    pretrained: str | None = None  # local snapshot folder, never downloaded
    freeze_feature_extractor: bool = True  # freeze the CNN when pretrained (FaceFormer, EmoTalk)
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    conv_dim: tuple[int, ...] = (512, 512, 512, 512, 512, 512, 512)
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)  # product 320: 50 Hz at 16 kHz
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    dropout: float = bounded(0.1, ge=0, lt=1)  # hidden, attention and activation dropout of a random-init encoder
    layerdrop: float = 0.0  # > 0 skips whole layers at random (breaks DDP's used-parameter check)
    # where the 50 Hz features are resampled to the mesh frame rate: "features" = CNN output,
    # before the transformer (FaceFormer, EmoTalk); "output" = after the transformer
    interpolate: Literal["features", "output"] = "features"
    normalize_audio: bool = True  # zero mean, unit variance per clip (Wav2Vec2Processor)
    # training: recompute the encoder's activations in the backward pass instead of storing them
    # (about 200 MiB per base-size pass of 3 s saved, one more forward pass of time; same gradients)
    checkpoint: bool = False


@dataclass
class DecoderConfig:
    """FaceFormer-style transformer decoder (one per branch)."""

    layers: int = bounded(1, ge=1)
    heads: int = bounded(4, ge=1)
    ff_mult: int = bounded(2, ge=1)  # feed-forward width = ff_mult * feature_dim
    dropout: float = bounded(0.1, ge=0, lt=1)
    period: int = bounded(30, ge=1)  # periodic positional encoding and temporal-bias period (frames)
    start_token: Literal["first_frame", "template"] = "first_frame"


@dataclass
class MeshAttentionConfig:
    """Mesh Attention (paper §3.2) and its SpiralConv3D stack (paper §3.2)."""

    mid_channels: int | None = None  # per-branch audio MLP width; None = feature_dim // 4
    channels: int | None = None  # F_audio / vertex-embedding width; None = feature_dim // 16
    hidden_channels: int | None = None  # width of hidden SpiralConv3D layers; None = channels
    layers: int = 2  # SpiralConv3D layers (the last one outputs weight_channels)
    spiral_length: int = 9  # L: entries per spiral, the centre included
    dilation: int = 1
    delta: int = 3  # causal temporal window (frames); 1 = "SpiralConv2D"
    activation: Literal["elu", "relu", "gelu"] = "elu"
    weight_channels: Literal[1, 3] = 1  # one weight per vertex-frame, or one per coordinate
    vertex_embedding: Literal["learned", "template"] = "learned"
    max_activation_elements: int = 1 << 26  # chunk over time above this (B*V*T*C)
    max_gather_elements: int = 1 << 26  # chunk over vertices above this (B*C*(T+delta-1)*V*L)
    checkpoint: bool = True  # recompute chunks in backward instead of storing the gathers
    separable_first_layer: bool = True  # exact shortcut for the first layer (F is a broadcast sum)
    # training also projects before gathering in the last layer (inference always does): the same
    # numbers up to float summation order, so off by default (training stays bit-identical)
    project_first_training: bool = False


@dataclass
class EmotionLabelConfig:
    """Extension beyond the paper: an optional learned emotion-label embedding.

    Added to the emotion features (the emotion branch's decoder memory and Mesh Attention
    input) so that ``--emotion happy`` / ``--emotion-mix happy=0.7,sad=0.3`` are
    well-defined at inference. Zero-initialised; in training the clip's own label is used and
    dropped with probability ``dropout`` so that the model also works without a label.
    """

    enabled: bool = True
    dropout: float = bounded(0.5, ge=0, le=1)


@dataclass
class ModelConfig:
    feature_dim: int = bounded(128, ge=1)  # C = d, the decoder width (FaceFormer: 64 VOCASET, 128 BIWI)
    n_emotions: int = bounded(8, ge=1)
    n_intensities: int = bounded(2, ge=1)
    fps: float = bounded(30.0, gt=0)
    sample_rate: int = bounded(16000, ge=1)
    single_branch: bool = False  # FaceFormer-style baseline: content branch only
    fusion: Literal["mesh_attention", "add"] = "mesh_attention"
    # what is fed back as the previous frame: the fused mesh (both decoders), or each
    # decoder's own branch prediction
    feedback: Literal["fused", "own"] = "fused"
    content_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    emotion_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    mesh_attention: MeshAttentionConfig = field(default_factory=MeshAttentionConfig)
    emotion_label: EmotionLabelConfig = field(default_factory=EmotionLabelConfig)
