"""LVE / EVE / FDD against hand-computed values and against torchmetrics' LipVertexError."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.multimodal import LipVertexError

from emoface.metrics import (
    FDD_REPORT_SCALE,
    REPORT_SCALE,
    MetricError,
    aggregate,
    clip_metrics,
    emotional_vertex_error,
    fdd,
    lip_vertex_error,
    region_frame_errors,
    resolve_regions,
    upper_face_dynamics,
)


def _regions():
    return resolve_regions({"lips": np.array([0, 1]), "eye_region": np.array([2]), "forehead": np.array([3, 2])}, n_vertices=5)


def test_lve_hand_computed():
    gt = np.zeros((2, 5, 3))
    pred = np.zeros((2, 5, 3))
    # frame 0: lip vertex 0 off by (3,4,0) mm -> 25e-6 m^2; vertex 1 off by 1 mm -> 1e-6
    pred[0, 0] = [0.003, 0.004, 0.0]
    pred[0, 1] = [0.001, 0.0, 0.0]
    # frame 1: lip vertex 1 off by 2 mm -> 4e-6; a non-lip vertex far off must not count
    pred[1, 1] = [0.0, 0.0, 0.002]
    pred[1, 4] = [1.0, 1.0, 1.0]
    np.testing.assert_allclose(region_frame_errors(pred, gt, [0, 1]).numpy(), [25e-6, 4e-6])
    assert lip_vertex_error(pred, gt, [0, 1]) == pytest.approx((25e-6 + 4e-6) / 2)


def test_eve_uses_eye_and_forehead_union():
    regions = _regions()
    assert regions.emotion.tolist() == [2, 3]
    gt = np.zeros((1, 5, 3))
    pred = np.zeros((1, 5, 3))
    pred[0, 3] = [0.0, 0.002, 0.0]  # forehead, 4e-6
    pred[0, 2] = [0.001, 0.0, 0.0]  # eye, 1e-6
    pred[0, 0] = [0.01, 0.0, 0.0]  # lips: not in EVE
    assert emotional_vertex_error(pred, gt, regions.emotion) == pytest.approx(4e-6)


def test_mean_is_over_all_frames_not_clips():
    regions = _regions()
    tpl = np.zeros((5, 3))
    a_gt, a_pred = np.zeros((3, 5, 3)), np.zeros((3, 5, 3))
    a_pred[:, 0, 0] = 0.001  # 1e-6 on each of 3 frames
    b_gt, b_pred = np.zeros((1, 5, 3)), np.zeros((1, 5, 3))
    b_pred[:, 0, 0] = 0.003  # 9e-6 on 1 frame
    agg = aggregate([clip_metrics(a_pred, a_gt, tpl, regions), clip_metrics(b_pred, b_gt, tpl, regions)])
    # frame mean (3*1 + 9) / 4 = 3e-6, not the clip mean (1 + 9) / 2 = 5e-6
    assert agg.lve == pytest.approx(3e-6 / REPORT_SCALE)
    assert agg.n_frames == 4 and agg.n_clips == 2
    concat = lip_vertex_error(np.concatenate([a_pred, b_pred]), np.concatenate([a_gt, b_gt]), regions.lips)
    assert agg.lve == pytest.approx(concat / REPORT_SCALE)


def test_fdd_hand_computed():
    tpl = np.zeros((5, 3))
    gt = np.zeros((2, 5, 3))
    gt[1, 2, 0] = 0.002  # vertex 2 squared displacement over time: [0, 4e-6] -> std 2e-6
    pred = np.zeros((2, 5, 3))  # a frozen prediction has no upper-face dynamics
    upper = [2, 3]
    assert upper_face_dynamics(gt, tpl, upper) == pytest.approx((2e-6 + 0.0) / 2)
    assert fdd(pred, gt, tpl, upper) == pytest.approx(1e-6)
    assert fdd(gt, pred, tpl, upper) == pytest.approx(-1e-6)  # signed
    agg = aggregate([clip_metrics(pred, gt, tpl, _regions())])
    assert agg.fdd == pytest.approx(1e-6 / FDD_REPORT_SCALE)


def test_agrees_with_torchmetrics_lip_vertex_error():
    g = torch.Generator().manual_seed(0)
    clips = [(torch.randn(t, 40, 3, generator=g) * 0.01, torch.randn(t, 40, 3, generator=g) * 0.01) for t in (7, 3, 11)]
    lips = [1, 5, 9, 30, 39]
    regions = resolve_regions({"lips": np.array(lips), "eye_region": np.array([2]), "forehead": np.array([3])})
    metric = LipVertexError(mouth_map=lips)
    for pred, gt in clips:
        metric.update(pred.double(), gt.double())
    ours = aggregate([clip_metrics(p, gt, np.zeros((40, 3)), regions) for p, gt in clips])
    assert ours.lve * REPORT_SCALE == pytest.approx(float(metric.compute()), rel=1e-12)
    # and the hand-written per-frame maxima agree too
    frames = torch.cat([region_frame_errors(p, gt, lips) for p, gt in clips])
    assert float(frames.mean()) == pytest.approx(float(metric.compute()), rel=1e-12)


def test_flat_layout_and_errors():
    pred = np.zeros((2, 15))  # FaceFormer's (T, V*3)
    assert lip_vertex_error(pred, np.zeros((2, 5, 3)), [0]) == 0.0
    with pytest.raises(MetricError, match="frame count"):
        lip_vertex_error(np.zeros((3, 5, 3)), np.zeros((2, 5, 3)), [0])
    with pytest.raises(MetricError, match="outside"):
        lip_vertex_error(np.zeros((2, 5, 3)), np.zeros((2, 5, 3)), [7])
    with pytest.raises(MetricError, match="forehead"):
        resolve_regions({"lips": [0], "eye_region": [1]})
    with pytest.raises(MetricError, match="no clips"):
        aggregate([])
