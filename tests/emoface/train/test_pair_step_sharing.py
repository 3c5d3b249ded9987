"""Work the self-growing pair step does not repeat (emoface/train/step.py).

- stage 1 records no autograd graph when nothing backpropagates through it: the same loss and
  gradients, bit for bit, as recording one;
- a frozen CNN runs once on the anchor audio (content at T1 and T2, and the emotion encoder when
  its frozen CNN has the same weights): bit for bit the same as running it three times;
- ``share_anchor_cnn`` (opt-in): a trained content CNN runs once on the anchor audio: the same
  loss, gradients equal to 1e-5 (another float summation order).
"""

from __future__ import annotations

import torch

from emoface.model.encoders import AudioEncoder
from emoface.train.config import LossConfig, ScheduleConfig
from emoface.train.losses import pair_losses
from emoface.train.pairs import PairBatch
from emoface.train.step import PairModel, StepRandom
from pair_model_support import pair_batch, tiny_pair_model
from tools.demo_head.canonical_mesh import load_canonical_mesh

T1, T2 = 9, 12  # clips of different lengths: the content encoder runs at both frame counts on the anchor audio


def _model(frozen: bool = False):
    model, template = tiny_pair_model(frozen)
    return model.train(), template


def _batch(template: torch.Tensor) -> PairBatch:
    return pair_batch(template, T1, T2)


def _step(model, schedule: ScheduleConfig, share: bool = False):
    """Loss, gradients, the outputs and the CNN calls of one pair step at p_gt = 0.5 (dropout on)."""
    batch = _batch(torch.from_numpy(load_canonical_mesh().vertices / 100.0).float())
    pm = PairModel(model, schedule, share_anchor_cnn=share)
    calls = {"content": 0, "emotion": 0}
    hooks = [enc.wav2vec.feature_extractor.register_forward_hook(lambda *a, k=k: calls.__setitem__(k, calls[k] + 1))
             for k, enc in (("content", model.content_encoder), ("emotion", model.emotion_encoder))]
    rnd = StepRandom(torch.rand(1, T1, generator=torch.Generator().manual_seed(2)),
                     torch.rand(1, T2, generator=torch.Generator().manual_seed(3)), torch.ones(1), torch.ones(1))
    model.zero_grad(set_to_none=True)
    torch.manual_seed(5)  # the same dropout masks in every call
    out = pm(batch, 0.5, rnd)
    loss = pair_losses(out.self_target.final, out.gt_self, out.cross_target.final, out.gt_cross, out.logits,
                       out.labels, LossConfig()).total
    loss.backward()
    for h in hooks:
        h.remove()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads, out, calls


def test_stage1_without_a_graph_gives_the_same_loss_and_gradients():
    model, _ = _model()
    loss, grads, out, _ = _step(model, ScheduleConfig(theta=0))
    assert not out.self_target.stage1.fused.requires_grad  # the old step recorded stage 1's graph
    assert not out.cross_target.stage1.fused.requires_grad
    # reference: a stage-1 loss weight > 0 records the graph; pair_losses does not read stage 1
    ref_loss, ref_grads, ref_out, _ = _step(model, ScheduleConfig(theta=0, stage1_loss_weight=1e-3))
    assert ref_out.self_target.stage1.fused.requires_grad
    assert torch.equal(loss, ref_loss) and grads.keys() == ref_grads.keys()
    assert all(torch.equal(grads[k], ref_grads[k]) for k in grads)
    # stage 1 supervised or fed back with gradients: the graph is kept
    out = _step(model, ScheduleConfig(theta=0, detach_predictions=False))[2]
    assert out.self_target.stage1.fused.requires_grad


def test_frozen_cnn_runs_once_on_the_anchor_audio_same_numbers(monkeypatch):
    model, _ = _model(frozen=True)
    loss, grads, _, calls = _step(model, ScheduleConfig(theta=0))
    assert calls == {"content": 1, "emotion": 1}  # anchor once (all three passes), partner once
    monkeypatch.setattr(AudioEncoder, "cnn_frozen", lambda self: False)  # the unshared step
    ref_loss, ref_grads, _, ref_calls = _step(model, ScheduleConfig(theta=0))
    assert ref_calls == {"content": 2, "emotion": 2}
    assert torch.equal(loss, ref_loss) and grads.keys() == ref_grads.keys()
    assert all(torch.equal(grads[k], ref_grads[k]) for k in grads)
    assert not any("feature_extractor" in k for k in grads)


def test_share_anchor_cnn_opt_in_same_loss_gradients_to_1e5():
    model, _ = _model()
    ref_loss, ref_grads, _, ref_calls = _step(model, ScheduleConfig(theta=0))
    loss, grads, _, calls = _step(model, ScheduleConfig(theta=0), share=True)
    assert ref_calls == {"content": 2, "emotion": 2} and calls == {"content": 1, "emotion": 2}
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=0)
    assert grads.keys() == ref_grads.keys() and any("content_encoder.wav2vec.feature_extractor" in k for k in grads)
    for k in grads:
        scale = float(ref_grads[k].abs().max()) or 1.0
        assert float((grads[k] - ref_grads[k]).abs().max()) <= 1e-5 * scale, k
