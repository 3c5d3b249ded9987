"""wav2vec 2.0 audio encoders (``transformers.Wav2Vec2Model``) at the mesh frame rate.

An encoder maps 16 kHz audio ``(B, N)`` to features ``(B, T, d)`` for any frame count T:
the CNN feature extractor gives 50 Hz features, which are linearly interpolated to T frames
(``align_corners=True``, as FaceFormer and EmoTalk do) either before the transformer
(``interpolate: features``, the references' choice) or after it (``interpolate: output``);
a ``Linear(hidden -> d)`` projects the result.

``pretrained: DIR`` loads a local Hugging Face snapshot with ``local_files_only=True`` (never
the network) and freezes the CNN; without it the encoder is randomly initialised from the
config (the ``small`` preset uses tiny encoders that train on a CPU).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from emoface.model.config import EncoderConfig

__all__ = ["AudioEncoder", "EncoderError", "build_wav2vec2", "receptive_field", "CNN_CHUNK_FRAMES"]

CNN_CHUNK_FRAMES = 250  # CNN output frames (5 s at 50 Hz) per chunk for long audio at inference


class EncoderError(RuntimeError):
    """A pretrained encoder that cannot be loaded (the message names the folder and what to put there)."""


def receptive_field(kernels: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """Samples needed for one CNN output frame."""
    rf, jump = 1, 1
    for k, s in zip(kernels, strides):
        rf += (k - 1) * jump
        jump *= s
    return rf


def build_wav2vec2(cfg: EncoderConfig, role: str = "content", hf_config: str | None = None):
    """A ``Wav2Vec2Model``: from the local snapshot ``cfg.pretrained`` or randomly initialised.

    ``hf_config`` (a ``Wav2Vec2Config`` as JSON text, saved in checkpoints) rebuilds the
    architecture without the snapshot folder; the weights then come from the checkpoint.
    """
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    if hf_config is not None:
        model = Wav2Vec2Model(Wav2Vec2Config.from_dict(json.loads(hf_config)))
    elif cfg.pretrained:
        folder = Path(cfg.pretrained).expanduser()
        hint = ("a Hugging Face snapshot of facebook/wav2vec2-base-960h" if role == "content"
                else "a snapshot of a speech-emotion wav2vec2 model (e.g. r-f/wav2vec-english-speech-emotion-recognition)")
        if not (folder / "config.json").is_file():
            raise EncoderError(
                f"{folder}: no wav2vec2 snapshot for the {role} encoder (config.json missing); put {hint} there, "
                f"e.g. `huggingface-cli download facebook/wav2vec2-base-960h --local-dir {folder}` on a machine "
                "with network access, or set pretrained: null for a randomly initialised encoder"
            )
        try:
            model = Wav2Vec2Model.from_pretrained(str(folder), local_files_only=True, layerdrop=cfg.layerdrop)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"{folder}: cannot load the {role} wav2vec2 snapshot ({exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); put {hint} there") from exc
        if cfg.freeze_feature_extractor:
            model.feature_extractor._freeze_parameters()
    else:
        if len(cfg.conv_dim) != len(cfg.conv_kernel) or len(cfg.conv_dim) != len(cfg.conv_stride):
            raise ValueError("encoder conv_dim, conv_kernel and conv_stride must have the same length")
        wcfg = Wav2Vec2Config(
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_hidden_layers,
            num_attention_heads=cfg.num_attention_heads,
            intermediate_size=cfg.intermediate_size,
            conv_dim=list(cfg.conv_dim),
            conv_kernel=list(cfg.conv_kernel),
            conv_stride=list(cfg.conv_stride),
            num_conv_pos_embeddings=cfg.num_conv_pos_embeddings,
            num_conv_pos_embedding_groups=cfg.num_conv_pos_embedding_groups,
            hidden_dropout=cfg.dropout,
            attention_dropout=cfg.dropout,
            activation_dropout=cfg.dropout,
            feat_proj_dropout=cfg.dropout,
            layerdrop=cfg.layerdrop,
            mask_time_prob=0.0,
            mask_feature_prob=0.0,
            vocab_size=32,
        )
        model = Wav2Vec2Model(wcfg)
    # SpecAugment is not applied (the features are resampled first); its embedding is unused
    if getattr(model, "masked_spec_embed", None) is not None:
        model.masked_spec_embed.requires_grad_(False)
    return model


class AudioEncoder(nn.Module):
    """``audio (B, N)`` 16 kHz -> features ``(B, T, out_dim)`` at the mesh frame rate."""

    def __init__(self, cfg: EncoderConfig, out_dim: int, role: str = "content", hf_config: str | None = None):
        super().__init__()
        self.cfg = cfg
        self.wav2vec = build_wav2vec2(cfg, role, hf_config)
        wc = self.wav2vec.config
        self.min_samples = receptive_field(tuple(wc.conv_kernel), tuple(wc.conv_stride))
        self.projection = nn.Linear(wc.hidden_size, out_dim)

    def hf_config(self) -> str:
        """The wav2vec2 architecture as JSON text (stored in checkpoints)."""
        return self.wav2vec.config.to_json_string()

    def forward(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        if self.cfg.checkpoint and torch.is_grad_enabled() and self.training:
            return checkpoint(self._forward, audio, n_frames, use_reentrant=False)  # dropout masks replayed
        return self._forward(audio, n_frames)

    def _forward(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        return self.from_cnn_features(self.cnn_features(audio), n_frames)

    def encode_cnn_features(self, feats: torch.Tensor, n_frames: int) -> torch.Tensor:
        """:meth:`from_cnn_features` with the encoder's activation checkpointing (``checkpoint: true``
        in training): what :meth:`forward` does after the CNN, for CNN features computed once."""
        if self.cfg.checkpoint and torch.is_grad_enabled() and self.training:
            return checkpoint(self.from_cnn_features, feats, n_frames, use_reentrant=False)
        return self.from_cnn_features(feats, n_frames)

    def cnn_frozen(self) -> bool:
        """Whether no CNN parameter is trained (a pretrained snapshot with ``freeze_feature_extractor``):
        its features then carry no gradient, and sharing them between passes changes no number."""
        return not any(p.requires_grad for p in self.wav2vec.feature_extractor.parameters())

    def cnn_features(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio (B, N)`` -> the CNN feature extractor's output ``(B, S, C)`` at 50 Hz."""
        if audio.dim() != 2:
            raise ValueError(f"audio must be (B, N), got {tuple(audio.shape)}")
        if audio.shape[1] < self.min_samples:
            audio = F.pad(audio, (0, self.min_samples - audio.shape[1]))
        if self.cfg.normalize_audio:
            audio = (audio - audio.mean(dim=1, keepdim=True)) / torch.sqrt(audio.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        if not torch.is_grad_enabled() and audio.shape[1] > self.min_samples + CNN_CHUNK_FRAMES * self.hop:
            return self._cnn_chunked(audio, CNN_CHUNK_FRAMES).transpose(1, 2)
        return self.wav2vec.feature_extractor(audio).transpose(1, 2)

    @property
    def hop(self) -> int:
        """Audio samples per CNN output frame (320 for wav2vec2)."""
        return math.prod(self.wav2vec.config.conv_stride)

    def _cnn_chunked(self, audio: torch.Tensor, chunk: int) -> torch.Tensor:
        """The CNN feature extractor on long audio, ``chunk`` output frames at a time (inference).

        The convolutions are unpadded, so output frame k sees samples ``[hop k, hop k + receptive
        field)`` only and each chunk gets exactly its frames. The one global operation, the first
        layer's GroupNorm (one group per channel, statistics over all time steps), takes its
        statistics from a first pass over the first convolution, accumulated in float64. Same
        numbers as the whole-clip pass to float rounding (tested to 1e-5); the temporaries stay
        a few MB instead of ``512 x N / 5`` floats per layer (393 MB each for 60 s).
        """
        fe = self.wav2vec.feature_extractor
        layers = fe.conv_layers
        first = layers[0]
        norm = getattr(first, "layer_norm", None)
        group = isinstance(norm, nn.GroupNorm)
        n = audio.shape[1]
        n_out = (n - self.min_samples) // self.hop + 1
        x = audio[:, None]
        if group:  # per-channel statistics of the first convolution over the whole clip
            k, st = first.conv.kernel_size[0], first.conv.stride[0]
            n0 = (n - k) // st + 1
            step = chunk * self.hop // st
            s1 = torch.zeros(audio.shape[0], first.conv.out_channels, dtype=torch.float64)
            s2 = torch.zeros_like(s1)
            for p0 in range(0, n0, step):
                p1 = min(n0, p0 + step)
                y = first.conv(x[:, :, p0 * st : (p1 - 1) * st + k]).double()
                s1 += y.sum(2)
                s2 += y.square().sum(2)
            mean = s1 / n0
            var = (s2 / n0 - mean.square()).clamp(min=0)
            scale = (norm.weight.double() / torch.sqrt(var + norm.eps)).to(audio.dtype)[:, :, None]
            shift = (norm.bias.double() - mean * scale[:, :, 0].double()).to(audio.dtype)[:, :, None]
        outs = []
        for k0 in range(0, n_out, chunk):
            k1 = min(n_out, k0 + chunk)
            h = x[:, :, k0 * self.hop : (k1 - 1) * self.hop + self.min_samples]
            if group:
                h = first.activation(first.conv(h) * scale + shift)
                rest = layers[1:]
            else:
                rest = layers
            for layer in rest:
                h = layer(h)
            outs.append(h)
        return torch.cat(outs, dim=2)

    def same_cnn(self, other: "AudioEncoder", training_ok: bool = False) -> bool:
        """Whether ``other``'s :meth:`cnn_features` equals this one's for any audio.

        Decided by comparing the weights (and the audio normalisation and padding), not assumed:
        true e.g. for two snapshots fine-tuned from one pretrained model with the CNN frozen.
        ``training_ok``: also when the CNNs are in training mode (the wav2vec2 CNN has no dropout;
        the caller makes sure that the weights are not trained, e.g. :meth:`cnn_frozen`).
        """
        if self.cfg.normalize_audio != other.cfg.normalize_audio or self.min_samples != other.min_samples:
            return False
        ca, cb = self.wav2vec.config, other.wav2vec.config
        keys = ("conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm", "feat_extract_activation")
        if any(getattr(ca, k, None) != getattr(cb, k, None) for k in keys):
            return False
        a = self.wav2vec.feature_extractor.state_dict()
        b = other.wav2vec.feature_extractor.state_dict()
        training = self.wav2vec.feature_extractor.training or other.wav2vec.feature_extractor.training
        if a.keys() != b.keys() or (training and not training_ok):
            return False
        return all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)

    def from_cnn_features(self, feats: torch.Tensor, n_frames: int) -> torch.Tensor:
        """The rest of :meth:`forward`: CNN features ``(B, S, C)`` -> ``(B, n_frames, out_dim)``."""
        w = self.wav2vec
        if self.cfg.interpolate == "features":
            feats = _resample(feats, n_frames)
        hidden, _ = w.feature_projection(feats)
        hidden = w.encoder(hidden).last_hidden_state
        if self.cfg.interpolate == "output":
            hidden = _resample(hidden, n_frames)
        return self.projection(hidden)


def _resample(x: torch.Tensor, n: int) -> torch.Tensor:
    """Linear interpolation along time: ``(B, S, C) -> (B, n, C)``."""
    if x.shape[1] == n:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, n, -1)
    return F.interpolate(x.transpose(1, 2), size=n, mode="linear", align_corners=True).transpose(1, 2)
