"""The cross-reconstruction target follows paper Eq. 14: ``M^c_{c1,e2} = M^c_{c1,e1} = D_c(F_c1)``.

The content branch is decoded once per stage, for the self target; the cross target reuses
that output (resampled in time when the partner clip is longer or shorter) and only the
emotion branch is decoded on the partner's emotion features. Mesh Attention weighs the
branches from the partner's emotion features and the anchor's content features.
"""

from __future__ import annotations

import pytest
import torch

from emoface.model.mesh_attention import fuse
from emoface.train.config import ScheduleConfig
from emoface.train.pairs import PairBatch
from emoface.train.step import PairModel, StepRandom, resample_frames
from pair_model_support import tiny_pair_model

def _model():
    model, template = tiny_pair_model()
    return model.eval(), template


def _batch(template: torch.Tensor, t1: int, t2: int) -> PairBatch:
    g = torch.Generator().manual_seed(1)
    v = template.shape[0]

    def clip(t):
        return template + 0.002 * torch.randn(1, t, v, 3, generator=g)

    return PairBatch(["a"], ["b"], torch.randn(1, t1 * 16000 // 30, generator=g), torch.randn(1, t2 * 16000 // 30, generator=g),
                     clip(t1), clip(t2), template[None], torch.tensor([1]), torch.tensor([0]), torch.tensor([4]),
                     torch.tensor([0]), torch.tensor([1]))  # different emotions, and intensities, as pairs may have


def _run(model, batch, kind: str, p_gt: float):
    pm = PairModel(model, ScheduleConfig(kind=kind, theta=0))
    calls = []  # parallel passes of D_c plus its cached steps (one per frame)
    dec = model.content_decoder
    hook = dec.register_forward_hook(lambda *a: calls.append(1))
    step = dec.step
    dec.step = lambda *a, **k: calls.append(1) or step(*a, **k)
    t1, t2 = batch.vertices1.shape[1], batch.vertices2.shape[1]
    rnd = StepRandom(torch.rand(1, t1, generator=torch.Generator().manual_seed(2)),
                     torch.rand(1, t2, generator=torch.Generator().manual_seed(3)), torch.ones(1), torch.ones(1))
    try:
        with torch.no_grad():
            out = pm(batch, p_gt, rnd)
    finally:
        hook.remove()
        del dec.step
    return out, len(calls)


@pytest.mark.parametrize("kind,p_gt,passes", [("self_growing", 0.5, 2), ("teacher_forcing", 1.0, 1)])
def test_cross_target_reuses_the_self_targets_content_output(kind, p_gt, passes):
    model, tpl = _model()
    out, content_calls = _run(model, _batch(tpl, 9, 9), kind, p_gt)
    s, c = out.self_target, out.cross_target
    assert content_calls == passes  # D_c runs for the self target only (the old code ran it for both)
    assert torch.equal(c.final.content, s.final.content)  # Eq. 14: M^c_{c1,e2} = M^c_{c1,e1}
    if passes == 2:
        assert torch.equal(c.stage1.content, s.stage1.content)
    # the fused cross prediction weighs the partner's emotion output against that same content
    assert torch.equal(c.final.fused, fuse(c.final.weight, c.final.emotion, s.final.content))
    # and the weight comes from F_e2 (partner audio) and F_c1 (anchor audio), both at T2
    batch = _batch(tpl, 9, 9)
    with torch.no_grad():
        f_e2 = model.encode_emotion(batch.audio2, 9)[0]
        f_c1 = model.encode_content(batch.audio1, 9)
        assert torch.allclose(c.final.weight, model.mesh_attention(f_e2, f_c1, batch.template), atol=1e-6)
    assert not torch.allclose(c.final.emotion, s.final.emotion)  # the emotion branch is decoded on e2


def test_partner_of_another_length_gets_the_content_output_resampled():
    model, tpl = _model()
    out, _ = _run(model, _batch(tpl, 9, 13), "self_growing", 0.5)
    s, c = out.self_target.final.content, out.cross_target.final.content
    assert c.shape[1] == 13 and torch.equal(c, resample_frames(s, 13))
    assert torch.equal(c[:, 0], s[:, 0]) and torch.allclose(c[:, -1], s[:, -1], atol=1e-7)
    assert torch.allclose(c[:, 6], s[:, 4], atol=1e-7)  # frame 6 of 13 is frame 4 of 9 (align_corners)


def test_autoregressive_cross_target_reuses_the_content_output_frame_by_frame():
    model, tpl = _model()
    out, content_calls = _run(model, _batch(tpl, 7, 7), "autoregressive", 0.0)
    assert torch.equal(out.cross_target.final.content, out.self_target.final.content)
    assert content_calls == 7  # one cached step per frame of the self target only


def test_resample_frames_keeps_a_clip_of_the_right_length_and_interpolates_linearly():
    x = torch.arange(3, dtype=torch.float32).reshape(1, 3, 1, 1).expand(1, 3, 2, 3)
    assert resample_frames(x, 3) is x
    y = resample_frames(x, 5)
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0]))
    assert resample_frames(x[:, :1], 4).shape == (1, 4, 2, 3)
