"""One training forward pass over a batch of pairs (the module that DDP wraps).

For a pair (anchor ``c1,e1``; partner ``c1,e2``) of the same subject:

- self target (``c1,e1``): content and emotion features of the anchor audio at ``T1``;
- cross target (``c1,e2``): the emotion decoder runs on the emotion features of the *partner*
  audio (with the partner's intensity and frames as its history); the content branch is not
  decoded again: its output is the self target's, ``M^c_{c1,e2} = M^c_{c1,e1} = D_c(F_c1)``
  (paper Eq. 14), resampled linearly in time to ``T2`` when the clips differ in length
  (:func:`resample_frames`). Mesh Attention weighs the two from ``F_e2`` and ``F_c1`` (the anchor
  audio's content features at ``T2``). Paper §3.1, App. A.2, Eqs. 11-17.

The single-branch baseline reconstructs both clips from their own audio (it has no emotion
path to exchange). Each target is decoded according to the schedule: one teacher-forced
pass, the two-stage self-growing pass, or fully autoregressive decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from emoface.model.emoface import BranchInputs, EmoFace, Offsets, shift_frames
from emoface.train.config import ScheduleConfig
from emoface.train.pairs import PairBatch
from emoface.train.schedule import mix_inputs

__all__ = ["PairModel", "PairOutputs", "TargetOutputs", "StepRandom", "resample_frames"]


def resample_frames(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """``x (B, T, V, 3)`` linearly resampled in time to ``n_frames`` (``align_corners``: first and
    last frames kept); ``x`` itself when it already has ``n_frames``."""
    b, t = x.shape[:2]
    if t == n_frames:
        return x
    flat = x.reshape(b, t, -1).transpose(1, 2)  # (B, V*3, T)
    if t == 1:
        out = flat.expand(-1, -1, n_frames)
    else:
        out = F.interpolate(flat, size=n_frames, mode="linear", align_corners=True)
    return out.transpose(1, 2).reshape(b, n_frames, *x.shape[2:])


@dataclass
class StepRandom:
    """Random draws of one step, made outside the module with the trainer's generator."""

    uniform1: torch.Tensor  # (B, T1) schedule draws for the self target
    uniform2: torch.Tensor  # (B, T2) for the cross target
    keep1: torch.Tensor  # (B,) 1 = use the emotion label of clip 1, 0 = dropped
    keep2: torch.Tensor  # (B,)


@dataclass
class TargetOutputs:
    final: Offsets  # the prediction that is supervised (stage 2, or the single pass)
    stage1: Offsets | None  # the stage-1 (teacher-forced) prediction when two stages ran (without an
    # autograd graph unless stage1_loss_weight > 0 or detach_predictions is false)
    gt_inputs: int  # decoder inputs that were ground truth (positions 1..T-1)
    inputs: int  # decoder inputs counted


@dataclass
class PairOutputs:
    self_target: TargetOutputs
    cross_target: TargetOutputs | None  # None when training without cross-reconstruction
    gt_self: torch.Tensor  # (B, T1, V, 3) ground-truth offsets
    gt_cross: torch.Tensor | None  # (B, T2, V, 3)
    logits: torch.Tensor | None  # (2B, E): anchors then partners (B, E without cross-reconstruction)
    labels: torch.Tensor  # (2B,) or (B,)


class PairModel(nn.Module):
    """Wraps :class:`EmoFace` so that a whole training step is one ``forward`` (for DDP).

    ``cross=False`` decodes only the self target (data without cross-reconstruction pairs).
    ``share_anchor_cnn`` (``train.share_anchor_cnn``): the anchor audio's content CNN runs once
    for the self and the cross target also when the CNN is trained (see :meth:`_encode_anchor`).

    Work the step does not repeat (the same numbers as repeating it): the content decoder of the
    cross target (Eq. 14), a frozen CNN on the anchor audio, and the autograd graph of stage 1
    when its outputs are neither supervised (``stage1_loss_weight: 0``) nor fed back with
    gradients (``detach_predictions``): stage 1 then runs without recording one.
    """

    def __init__(self, model: EmoFace, schedule: ScheduleConfig, cross: bool = True, share_anchor_cnn: bool = False):
        super().__init__()
        self.model = model
        self.schedule = schedule
        self.cross = cross
        self.share_anchor_cnn = share_anchor_cnn

    def forward(self, batch: PairBatch, p_gt: float, rnd: StepRandom) -> PairOutputs:
        m = self.model
        cfg = m.cfg
        t1, t2 = batch.vertices1.shape[1], batch.vertices2.shape[1]
        tpl = batch.template
        gt1 = batch.vertices1 - tpl.unsqueeze(1)
        gt2 = batch.vertices2 - tpl.unsqueeze(1)
        spk = F.one_hot(batch.speaker, m.n_speakers).to(gt1.dtype)
        int1 = F.one_hot(batch.intensity1, cfg.n_intensities).to(gt1.dtype)
        int2 = F.one_hot(batch.intensity2, cfg.n_intensities).to(gt1.dtype)
        lab1 = F.one_hot(batch.emotion1, cfg.n_emotions).to(gt1.dtype) * rnd.keep1.to(gt1)[:, None]
        lab2 = F.one_hot(batch.emotion2, cfg.n_emotions).to(gt1.dtype) * rnd.keep2.to(gt1)[:, None]
        logits = None
        if not self.cross:
            if cfg.single_branch:
                in1 = m.prepare(m.add_emotion_label(m.encode_content(batch.audio1, t1), lab1), None, spk, int1, tpl)
            else:
                e1, l1 = m.encode_emotion(batch.audio1, t1)
                in1 = m.prepare(m.encode_content(batch.audio1, t1), m.add_emotion_label(e1, lab1), spk, int1, tpl)
                logits = l1
            out1 = self._target(in1, gt1, rnd.uniform1, p_gt)
            return PairOutputs(out1, None, gt1, None, logits, batch.emotion1)
        if cfg.single_branch:
            c1 = m.add_emotion_label(m.encode_content(batch.audio1, t1), lab1)
            c2 = m.add_emotion_label(m.encode_content(batch.audio2, t2), lab2)
            in1 = m.prepare(c1, None, spk, int1, tpl)
            in2 = m.prepare(c2, None, spk, int2, tpl)
        else:
            c1, c12, (e1, l1) = self._encode_anchor(batch.audio1, t1, t2)
            e2, l2 = m.encode_emotion(batch.audio2, t2)
            e1 = m.add_emotion_label(e1, lab1)
            e2 = m.add_emotion_label(e2, lab2)
            in1 = m.prepare(c1, e1, spk, int1, tpl)
            in2 = m.prepare(c12, e2, spk, int2, tpl)
            logits = torch.cat([l1, l2])
        out1 = self._target(in1, gt1, rnd.uniform1, p_gt)
        out2 = self._target(in2, gt2, rnd.uniform2, p_gt, content_of=None if cfg.single_branch else out1)
        return PairOutputs(out1, out2, gt1, gt2, logits, torch.cat([batch.emotion1, batch.emotion2]))

    def _encode_anchor(self, audio: torch.Tensor, t1: int, t2: int
                       ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The anchor audio's content features at ``T1`` and ``T2`` and its emotion features and logits.

        The content encoder's CNN runs once for both frame counts when its weights are frozen (no
        gradient: the same numbers) or with ``share_anchor_cnn`` (the same forward numbers; the CNN's
        gradient is summed before its backward pass instead of after, a different float summation
        order). A frozen emotion-encoder CNN equal to the content one reuses those features too. The
        passes run in the original order, so dropout draws the same masks.
        """
        m = self.model
        ce, ee = m.content_encoder, m.emotion_encoder
        frozen = ce.cnn_frozen()
        share_c = t2 != t1 and (frozen or self.share_anchor_cnn)
        share_e = frozen and ee.cnn_frozen() and ce.same_cnn(ee, training_ok=True)
        cnn = None
        if share_c or share_e:
            if ce.cfg.checkpoint and torch.is_grad_enabled() and ce.training and not frozen:
                cnn = checkpoint(ce.cnn_features, audio, use_reentrant=False)
            else:
                cnn = ce.cnn_features(audio)
        c1 = m.encode_content(audio, t1, cnn)
        c12 = c1 if t2 == t1 else m.encode_content(audio, t2, cnn if share_c else None)
        return c1, c12, m.encode_emotion(audio, t1, cnn if share_e else None)

    def _target(self, inputs: BranchInputs, gt: torch.Tensor, uniform: torch.Tensor, p_gt: float,
                content_of: TargetOutputs | None = None) -> TargetOutputs:
        """Decode one target; with ``content_of`` (the self target's outputs) the content branch
        is not decoded: each pass reuses that target's content output of the same stage (Eq. 14)."""
        m = self.model
        s = self.schedule
        t = gt.shape[1]

        def reused(out: Offsets | None) -> torch.Tensor | None:
            return None if content_of is None or out is None else resample_frames(out.content, t)

        start = gt[:, 0] if m.cfg.decoder.start_token == "first_frame" else torch.zeros_like(gt[:, 0])
        n_inputs = gt.shape[0] * (t - 1)
        if s.kind == "autoregressive":
            out = m.decode_autoregressive(inputs, start, cached=True, detach_feedback=s.detach_predictions,
                                          content=reused(content_of.final if content_of else None))
            return TargetOutputs(out, None, 0, n_inputs)
        teacher = shift_frames(gt, start)
        one_pass = s.kind == "teacher_forcing" or (p_gt >= 1.0 and s.skip_stage1_when_all_gt and s.stage1_loss_weight == 0)
        if one_pass:
            return TargetOutputs(m.decode(inputs, teacher, content=reused(content_of.final if content_of else None)),
                                 None, n_inputs, n_inputs)
        # the self target ran the same schedule, so it has a stage 1 whenever this one does
        graph = not s.detach_predictions or s.stage1_loss_weight > 0  # does any gradient flow through stage 1?
        with torch.set_grad_enabled(graph and torch.is_grad_enabled()):
            stage1 = m.decode(inputs, teacher, content=reused(content_of.stage1 if content_of else None))
        own = m.cfg.feedback == "own" and stage1.emotion is not None
        pe, pc = (stage1.emotion, stage1.content) if own else (stage1.fused, stage1.fused)
        if s.detach_predictions:
            pe, pc = pe.detach(), pc.detach()
        mixed_e, use_gt = mix_inputs(gt, pe, uniform, p_gt)
        mixed_c = mix_inputs(gt, pc, uniform, p_gt)[0] if own and content_of is None else mixed_e
        final = m.decode(inputs, shift_frames(mixed_e, start), shift_frames(mixed_c, start),
                         content=reused(content_of.final if content_of else None))
        return TargetOutputs(final, stage1, int(use_gt[:, :-1].sum()), n_inputs)
