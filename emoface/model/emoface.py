"""The EmoFace model: emotion and content branches fused by Mesh Attention (arXiv 2408.11518).

Shapes: B batch, N audio samples (16 kHz), T mesh frames (30 fps), V vertices, d feature
width, S training speakers, E emotions (8). Offsets and meshes are metres.

    F_c = E_c(audio) (B, T, d)       F_e = E_e(audio) (+ optional emotion-label embedding)
    logits = classifier(mean_t F_e)  (B, E)
    dM_c = D_c(prev, F_c, speaker, intensity)   dM_e = D_e(prev, F_e, speaker, intensity)
    w = MeshAttention(F_e, F_c)  (B, T, V, 1|3)
    dM = w * dM_e + (1 - w) * dM_c;   mesh = template + dM

``single_branch: true`` keeps only the content encoder and decoder (a FaceFormer-style
baseline); ``fusion: add`` replaces Mesh Attention by ``dM_e + dM_c``. Decoding is either
parallel (teacher-forced, :meth:`EmoFace.decode`) or autoregressive
(:meth:`EmoFace.decode_autoregressive`, cached keys/values by default). The inference entry
point is :meth:`EmoFace.predict` (see ``docs/model.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emoface.model.conditioning import (
    emotion_weights,
    intensity_weights,
    speaker_weights,
)
from emoface.model.config import ModelConfig
from emoface.model.decoder import DecoderCache, MotionDecoder
from emoface.model.encoders import AudioEncoder
from emoface.model.mesh_attention import MeshAttention, fuse

__all__ = ["EmoFace", "BranchInputs", "Offsets", "Prediction", "shift_frames"]


@dataclass
class BranchInputs:
    """Everything the decoders need for one target sequence of T frames."""

    content: torch.Tensor  # (B, T, d) content features
    emotion: torch.Tensor | None  # (B, T, d) emotion features (None: single branch)
    weight: torch.Tensor | None  # (B, T, V, k) Mesh Attention weight (None: single branch or "add")
    cond_content: torch.Tensor  # (B, d) speaker + intensity embedding of the content decoder
    cond_emotion: torch.Tensor | None  # (B, d) of the emotion decoder

    @property
    def n_frames(self) -> int:
        return int(self.content.shape[1])


@dataclass
class Offsets:
    """Predicted offsets from the template, ``(B, T, V, 3)`` metres."""

    fused: torch.Tensor
    emotion: torch.Tensor | None = None  # emotion branch (None: single branch)
    content: torch.Tensor | None = None  # content branch
    weight: torch.Tensor | None = None  # (B, T, V, k) emotion-branch weight


@dataclass
class Prediction:
    """Output of :meth:`EmoFace.generate`; meshes are ``template + offsets``."""

    vertices: torch.Tensor  # (B, T, V, 3) metres
    offsets: Offsets
    emotion_logits: torch.Tensor | None  # (B, E) from the audio (None: single branch)


def shift_frames(frames: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Decoder inputs for targets ``frames (B, T, V, 3)``: ``[start, frames_0 .. frames_{T-2}]``."""
    return torch.cat([start.unsqueeze(1), frames[:, :-1]], dim=1)


class EmoFace(nn.Module):
    """EmoFace for one topology.

    Args:
        cfg: model configuration.
        n_vertices: V of the topology.
        n_speakers: S, the number of training subjects (speaker one-hot size).
        spirals: ``(V, L)`` spiral indices (:func:`emoface.mesh.spiral.spiral_indices`);
            required with Mesh Attention.
        encoder_configs: ``{"content"|"emotion": Wav2Vec2Config JSON}`` from a checkpoint, so that
            a model trained from pretrained snapshots is rebuilt without those folders.
    """

    def __init__(self, cfg: ModelConfig, n_vertices: int, n_speakers: int, spirals: torch.Tensor | None = None,
                 encoder_configs: dict[str, str] | None = None):
        super().__init__()
        self.cfg = cfg
        self.n_vertices = n_vertices
        self.n_speakers = n_speakers
        d = cfg.feature_dim
        dc = cfg.decoder

        def decoder() -> MotionDecoder:
            return MotionDecoder(n_vertices, d, n_speakers, cfg.n_intensities, dc.layers, dc.heads, dc.ff_mult,
                                 dc.dropout, dc.period)

        hf = encoder_configs or {}
        self.content_encoder = AudioEncoder(cfg.content_encoder, d, "content", hf.get("content"))
        self.content_decoder = decoder()
        self.emotion_encoder = self.emotion_decoder = self.classifier = self.mesh_attention = None
        if not cfg.single_branch:
            self.emotion_encoder = AudioEncoder(cfg.emotion_encoder, d, "emotion", hf.get("emotion"))
            self.emotion_decoder = decoder()
            self.classifier = nn.Linear(d, cfg.n_emotions)
            if cfg.fusion == "mesh_attention":
                if spirals is None:
                    raise ValueError("Mesh Attention needs the topology's spiral indices")
                if spirals.shape[0] != n_vertices:
                    raise ValueError(f"spirals are for {spirals.shape[0]} vertices, the model for {n_vertices}")
                self.mesh_attention = MeshAttention(d, spirals, cfg.mesh_attention)
        self.emotion_label = None
        if cfg.emotion_label.enabled:
            self.emotion_label = nn.Embedding(cfg.n_emotions, d)
            nn.init.zeros_(self.emotion_label.weight)

    # ----------------------------------------------------------------- features
    def n_frames_for(self, n_samples: int) -> int:
        """Mesh frames for ``n_samples`` of audio: ``max(1, round(n / sample_rate * fps))``."""
        return max(1, int(round(n_samples / self.cfg.sample_rate * self.cfg.fps)))

    def encode_content(self, audio: torch.Tensor, n_frames: int, cnn: torch.Tensor | None = None) -> torch.Tensor:
        """``audio (B, N)`` -> content features ``(B, n_frames, d)``.

        ``cnn``: the content encoder's CNN features of ``audio`` computed before
        (:meth:`AudioEncoder.cnn_features`), so that the CNN is not run again.
        """
        if cnn is not None:
            return self.content_encoder.encode_cnn_features(cnn, n_frames)
        return self.content_encoder(audio, n_frames)

    def encode_emotion(self, audio: torch.Tensor, n_frames: int,
                       cnn: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio (B, N)`` -> emotion features ``(B, n_frames, d)`` and class logits ``(B, E)``.

        In the single-branch model the content features stand in (and the logits are None).
        ``cnn``: CNN features of ``audio`` equal to the emotion encoder's (see :meth:`encode_content`).
        """
        if self.emotion_encoder is None:
            return self.encode_content(audio, n_frames, cnn), None
        if cnn is not None:
            feats = self.emotion_encoder.encode_cnn_features(cnn, n_frames)
        else:
            feats = self.emotion_encoder(audio, n_frames)
        return feats, self.classifier(feats.mean(dim=1))

    def add_emotion_label(self, feats: torch.Tensor, label_weights: torch.Tensor | None) -> torch.Tensor:
        """Add the emotion-label embedding ``label_weights (B, E) @ table`` to ``feats (B, T, d)``.

        ``label_weights`` is a one-hot, a mix (e.g. 0.7 happy + 0.3 sad), or zeros for "no
        label"; None or a disabled embedding leaves the features unchanged.
        """
        if self.emotion_label is None or label_weights is None:
            return feats
        return feats + (label_weights.to(feats.dtype) @ self.emotion_label.weight).unsqueeze(1)

    def prepare(self, content: torch.Tensor, emotion: torch.Tensor | None, speaker: torch.Tensor,
                intensity: torch.Tensor, template: torch.Tensor | None = None) -> BranchInputs:
        """Conditioning vectors and the Mesh Attention weight for one target sequence.

        Args:
            content, emotion: ``(B, T, d)`` features at the target's frame count.
            speaker: ``(B, S)`` one-hot (or weights); intensity: ``(B, 2)``.
            template: ``(B, V, 3)``, needed only with ``vertex_embedding: template``.
        """
        weight = None
        cond_e = None
        if self.emotion_decoder is not None:
            cond_e = self.emotion_decoder.condition(speaker, intensity)
            if self.mesh_attention is not None:
                weight = self.mesh_attention(emotion, content, template)
        return BranchInputs(content, emotion if self.emotion_decoder is not None else None, weight,
                            self.content_decoder.condition(speaker, intensity), cond_e)

    # ----------------------------------------------------------------- decoding
    def decode(self, inputs: BranchInputs, prev_emotion: torch.Tensor, prev_content: torch.Tensor | None = None,
               content: torch.Tensor | None = None) -> Offsets:
        """Parallel pass: ``prev_* (B, T, V, 3)`` decoder inputs (see :func:`shift_frames`) -> :class:`Offsets`.

        ``prev_content`` defaults to ``prev_emotion`` (fused feedback: both decoders see the same frames).
        ``content (B, T, V, 3)``, when given, is used as the content branch's output instead of
        running the content decoder (the cross-reconstruction target reuses the self target's,
        paper Eq. 14: ``M^c_{c1,e2} = M^c_{c1,e1} = D_c(F_c1)``).
        """
        if content is None:
            prev_content = prev_emotion if prev_content is None else prev_content
            content = self.content_decoder(prev_content, inputs.content, inputs.cond_content)
        if self.emotion_decoder is None:
            return Offsets(fused=content, content=content)
        emotion = self.emotion_decoder(prev_emotion, inputs.emotion, inputs.cond_emotion)
        return Offsets(fuse(inputs.weight, emotion, content), emotion, content, inputs.weight)

    def decode_autoregressive(self, inputs: BranchInputs, start: torch.Tensor, cached: bool = True,
                              detach_feedback: bool = True, content: torch.Tensor | None = None) -> Offsets:
        """Autoregressive decoding of ``inputs.n_frames`` frames from ``start (B, V, 3)`` offsets.

        With ``cached`` each step decodes one token against stored keys/values (O(T) steps of
        O(t) attention); without, every step re-decodes the whole prefix (the reference
        behaviour of FaceFormer's ``predict``). The fed-back frame is the fused prediction
        (``feedback: fused``) or each decoder's own (``feedback: own``), detached from the
        graph when ``detach_feedback``. A given ``content (B, T, V, 3)`` replaces the content
        decoder's output frame by frame (see :meth:`decode`).
        """
        t_total = inputs.n_frames
        two = self.emotion_decoder is not None
        own = self.cfg.feedback == "own" and two
        prev_e = prev_c = start
        out_e, out_c, out_f = [], [], []
        cap = t_total if cached and not torch.is_grad_enabled() else 0  # preallocated (inference)
        caches = (DecoderCache(capacity=cap), DecoderCache(capacity=cap))
        hist_e: list[torch.Tensor] = []
        hist_c: list[torch.Tensor] = []
        for t in range(t_total):
            if content is not None:
                c = content[:, t]
                e = self.emotion_decoder.step(prev_e, inputs.emotion, inputs.cond_emotion, caches[1]) if two else None
            elif cached:
                c = self.content_decoder.step(prev_c, inputs.content, inputs.cond_content, caches[0])
                e = self.emotion_decoder.step(prev_e, inputs.emotion, inputs.cond_emotion, caches[1]) if two else None
            else:  # .clone(): a view of the last row would keep the whole (t, V, 3) output alive
                hist_c.append(prev_c)
                hist_e.append(prev_e)
                c = self.content_decoder(torch.stack(hist_c, 1), inputs.content[:, : t + 1], inputs.cond_content)[:, -1].clone()
                e = (self.emotion_decoder(torch.stack(hist_e, 1), inputs.emotion[:, : t + 1], inputs.cond_emotion)[:, -1].clone()
                     if two else None)
            if two:
                w = None if inputs.weight is None else inputs.weight[:, t]
                f = fuse(w, e, c)
                out_e.append(e)
            else:
                f = c
            out_c.append(c)
            out_f.append(f)
            nxt_e, nxt_c = (e, c) if own else (f, f)
            if detach_feedback:
                nxt_c = nxt_c.detach()
                nxt_e = nxt_e.detach() if nxt_e is not None else None
            prev_c, prev_e = nxt_c, (nxt_e if two else nxt_c)
        fused = torch.stack(out_f, 1)
        if not two:
            return Offsets(fused=fused, content=fused)
        return Offsets(fused, torch.stack(out_e, 1), torch.stack(out_c, 1), inputs.weight)

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def generate(
        self,
        audio,
        template,
        speaker=0,
        intensity=0,
        emotion=None,
        n_frames: int | None = None,
        first_frame=None,
        cached: bool = True,
        emotion_names: tuple[str, ...] | None = None,
        encoder_dtype: torch.dtype | None = None,
    ) -> Prediction:
        """Animate ``template`` from ``audio`` (autoregressive, eval mode, no gradients).

        Args:
            audio: ``(N,)`` or ``(B, N)`` float 16 kHz mono (tensor or array).
            template: ``(V, 3)`` or ``(B, V, 3)`` metres, the neutral face to animate.
            speaker: training-speaker index, a list of B indices, or ``(B, S)`` / ``(S,)`` weights
                (a mix of speaking styles).
            intensity: 0 normal / 1 strong, a float in [0, 1] between them, or ``(B, 2)``.
            emotion: None (emotion from the audio only), a class index or name, a mix
                ``{"happy": 0.7, "sad": 0.3}``, or ``(B, E)`` weights; needs the emotion-label
                embedding (``emotion_label.enabled``).
            n_frames: output frames; default ``round(N / 16000 * 30)``.
            first_frame: ``(V, 3)`` or ``(B, V, 3)`` mesh used as start token (the model was trained
                with the ground-truth first frame; default: the template itself).
            cached: cached keys/values (default) or the O(T^2) reference loop.
            emotion_names: names for ``emotion`` given as strings (default: RAVDESS order).
            encoder_dtype: e.g. ``torch.bfloat16``: run the two audio encoders under autocast in
                that dtype (about 1.5-2x faster on CPUs with AVX512-BF16; not the same numbers:
                the measured error is in BENCHMARKS.md). Default: float32, the exact path.
        Returns:
            :class:`Prediction` with ``vertices (B, T, V, 3)``.
        """
        was_training = self.training
        self.eval()
        try:
            dev = next(self.parameters()).device
            audio = torch.as_tensor(audio, dtype=torch.float32, device=dev)
            audio = audio.unsqueeze(0) if audio.dim() == 1 else audio
            b = audio.shape[0]
            template = torch.as_tensor(template, dtype=torch.float32, device=dev)
            template = template.unsqueeze(0).expand(b, -1, -1) if template.dim() == 2 else template
            if template.shape[1:] != (self.n_vertices, 3):
                raise ValueError(f"template must be (V={self.n_vertices}, 3), got {tuple(template.shape)}")
            t = n_frames or self.n_frames_for(audio.shape[1])
            spk = speaker_weights(speaker, self.n_speakers, b).to(dev)
            inten = intensity_weights(intensity, self.cfg.n_intensities, b).to(dev)
            emo = None
            if emotion is not None:
                if self.emotion_label is None:
                    raise ValueError("this model has no emotion-label embedding (emotion_label.enabled was false); "
                                     "its emotion comes from the audio only")
                emo = emotion_weights(emotion, self.cfg.n_emotions, b, emotion_names).to(dev)
            with torch.autocast(dev.type, dtype=encoder_dtype or torch.float32, enabled=encoder_dtype is not None):
                if self.emotion_encoder is None:
                    content = self.encode_content(audio, t)
                    feats, logits = content, None
                elif self.content_encoder.same_cnn(self.emotion_encoder):  # one CNN pass serves both
                    cnn = self.content_encoder.cnn_features(audio)
                    content = self.content_encoder.from_cnn_features(cnn, t)
                    feats = self.emotion_encoder.from_cnn_features(cnn, t)
                    logits = self.classifier(feats.mean(dim=1))
                else:
                    content = self.encode_content(audio, t)
                    feats, logits = self.encode_emotion(audio, t)
            content, feats = content.float(), feats.float()
            logits = None if logits is None else logits.float()
            feats = self.add_emotion_label(feats, emo)
            if self.emotion_encoder is None:
                content = feats
            inputs = self.prepare(content, feats, spk, inten, template)
            if first_frame is None:
                start = torch.zeros_like(template)
            else:
                ff = torch.as_tensor(first_frame, dtype=torch.float32, device=dev)
                ff = ff.unsqueeze(0).expand(b, -1, -1) if ff.dim() == 2 else ff
                start = ff - template
            offsets = self.decode_autoregressive(inputs, start, cached=cached)
            return Prediction(template.unsqueeze(1) + offsets.fused, offsets, logits)
        finally:
            self.train(was_training)

    def predict(self, audio, template, speaker=0, intensity=0, emotion=None, n_frames: int | None = None,
                first_frame=None, cached: bool = True, encoder_dtype: torch.dtype | None = None) -> torch.Tensor:
        """Meshes ``(T, V, 3)`` for one clip (``(B, T, V, 3)`` for batched audio); see :meth:`generate`."""
        a = torch.as_tensor(audio)
        out = self.generate(a, template, speaker, intensity, emotion, n_frames, first_frame, cached,
                            encoder_dtype=encoder_dtype).vertices
        return out[0] if a.dim() == 1 else out

    def encoder_configs(self) -> dict[str, str]:
        """``{"content"|"emotion": Wav2Vec2Config JSON}`` of the encoders (for checkpoints)."""
        out = {"content": self.content_encoder.hf_config()}
        if self.emotion_encoder is not None:
            out["emotion"] = self.emotion_encoder.hf_config()
        return out

    def parameter_count(self) -> dict[str, int]:
        """Trainable parameters per top-level component."""
        return {name: sum(p.numel() for p in m.parameters() if p.requires_grad)
                for name, m in self.named_children() if m is not None}
