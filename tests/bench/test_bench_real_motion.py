"""bench.bench_real_motion: the flow's trajectory of a distance between two points, and the comparison that
reads a detector's gain against it (drift removed, missing steps counted), on a known motion."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_real_motion import (PAIRS, ClipMotion, compare, detrend, distances, flow_trajectory, main, markdown,
                                     measure, summary)

T, N = 90, 478


def _face(width: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """``(T, N, 2)`` px: eye corners 100 px apart (MediaPipe 33, 263), mouth corners (61, 291) ``width`` apart,
    lip midpoints (0, 17) ``opening`` apart, the whole face drifting to the right and rolling (up to 0.3 rad)."""
    t = len(width)
    p = np.zeros((t, N, 2))
    p[:, 33] = [-50, -100]
    p[:, 263] = [50, -100]
    p[:, 61, 0], p[:, 291, 0] = -width / 2, width / 2
    p[:, 0, 1], p[:, 17, 1] = -opening / 2, opening / 2
    roll = 0.3 * np.sin(np.arange(t) / 9)
    rot = np.stack([np.c_[np.cos(roll), -np.sin(roll)], np.c_[np.sin(roll), np.cos(roll)]], axis=1)  # (T, 2, 2)
    return np.einsum("tij,tnj->tni", rot, p) + np.c_[250 + np.linspace(0, 20, t), np.full(t, 300)][:, None]


def _motion(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    width = 60 + 3 * np.sin(t / 4) + rng.normal(size=T) * 0.5
    opening = 20 + 8 * np.abs(np.sin(t / 3)) + rng.normal(size=T) * 0.5
    return width, opening


def _flow_of(points: np.ndarray) -> np.ndarray:
    """The exact flow of ``points``: row t holds the motion from frame t-1 to t, at frame t-1's points."""
    f = np.full_like(points, np.nan)
    f[1:] = points[1:] - points[:-1]
    return f


def test_the_exact_flow_rebuilds_the_distance():
    truth = _face(*_motion())
    valid = np.ones(T, bool)
    traj, missing = flow_trajectory(truth, _flow_of(truth), valid, PAIRS["mouth width"])
    np.testing.assert_allclose(traj, distances(truth, PAIRS["mouth width"]), atol=1e-9)
    assert missing == 0.0


def test_missing_flow_steps_add_no_change_and_are_counted():
    truth = _face(*_motion())
    flow = _flow_of(truth)
    flow[10, 61] = np.nan  # a point that failed the forward-backward check
    valid = np.ones(T, bool)
    valid[20] = False  # a frame without a face: the steps into and out of it are missing
    traj, missing = flow_trajectory(truth, flow, valid, PAIRS["mouth width"])
    w = distances(truth, PAIRS["mouth width"])
    assert traj[10] == pytest.approx(traj[9]) and traj[20] == pytest.approx(traj[19]) and traj[21] == pytest.approx(traj[20])
    assert missing == pytest.approx(3 / (T - 1))
    assert traj[5] == pytest.approx(w[5])


def test_a_detector_that_sees_half_the_motion_has_gain_one_half_against_a_drifting_flow():
    width, opening = _motion()
    truth = _face(width, opening)
    det = _face(60 + 0.5 * (width - 60), opening)  # half the horizontal lip motion, all the vertical
    flow = _flow_of(truth)
    flow[1:, 291, 0] += 0.05  # a slow drift of the flow: 4.5 px over the clip, more than the motion's std
    row = measure(ClipMotion("c", "generated", det, np.ones(T, bool), flow, truth))
    w, o = row["mouth width"], row["mouth opening"]
    assert w["detector_vs_truth"]["gain"] == pytest.approx(0.5, abs=0.02) and w["detector_vs_truth"]["r"] > 0.99
    assert w["detector_vs_flow"]["gain"] == pytest.approx(0.5, abs=0.05) and w["detector_vs_flow"]["r"] > 0.95
    assert o["detector_vs_flow"]["gain"] == pytest.approx(1.0, abs=0.02)
    assert w["flow_vs_truth"]["gain"] == pytest.approx(1.0, abs=0.1)
    # without removing the drift the flow's trajectory would not match the truth's
    traj = flow_trajectory(det, flow, np.ones(T, bool), PAIRS["mouth width"])[0]
    tw = distances(truth, PAIRS["mouth width"])
    assert np.corrcoef(traj - traj.mean(), tw - tw.mean())[0, 1] < 0.9
    summ = summary([row])
    assert summ[0]["width_over_opening_gain_truth"] == pytest.approx(0.5, abs=0.02)
    assert summ[0]["width_over_opening_gain_flow"] == pytest.approx(0.5, abs=0.05)
    text = markdown(summ)
    assert "| generated | mouth width | 1 |" in text and "| generated | 0.5" in text


def test_drift_is_removed_from_both_sides_over_the_frames_both_have():
    width, opening = _motion(1)
    truth = _face(width, opening)
    det = _face(width + np.linspace(0, 6, T), opening)  # the detector's width drifts by 6 px over the clip
    valid = np.ones(T, bool)
    valid[40:45] = False  # frames without a face: in neither side's line
    det[40:45] = np.nan
    row = measure(ClipMotion("c", "generated", det, valid, _flow_of(truth), truth))
    w = row["mouth width"]
    assert w["detector_vs_truth"]["r"] > 0.99 and w["detector_vs_truth"]["gain"] == pytest.approx(1.0, abs=0.02)
    assert w["detector_vs_flow"]["r"] > 0.95
    assert row["frames"] == T - 5


def test_the_summary_takes_the_median_of_per_clip_ratios():
    rows = []
    for k, (w_gain, o_gain) in enumerate(((0.2, 1.0), (0.5, 0.5), (0.9, 1.0))):  # ratios 0.2, 1.0, 0.9
        width, opening = _motion(k)
        truth = _face(width, opening)
        det = _face(60 + w_gain * (width - 60), 20 + o_gain * (opening - 20))
        rows.append(measure(ClipMotion(f"c{k}", "generated", det, np.ones(T, bool), _flow_of(truth), truth)))
    # the median of the clips' ratios is 0.9; the ratio of the medians would be 0.5 / 1.0
    assert summary(rows)[0]["width_over_opening_gain_truth"] == pytest.approx(0.9, abs=0.03)


def test_a_clip_without_a_face_is_an_error_naming_it():
    width, opening = _motion()
    pts = _face(width, opening)
    with pytest.raises(ValueError, match="v.mp4: a face in 0 frames"):
        measure(ClipMotion("c", "real video", pts, np.zeros(T, bool), _flow_of(pts), path="v.mp4"))


def test_detrend_and_compare_edges():
    x = np.arange(10, dtype=float) * 3 + np.sin(np.arange(10))
    d = detrend(x)
    assert abs(np.polyfit(np.arange(10), d, 1)[0]) < 1e-9
    y = x.copy()
    y[4] = np.nan
    assert np.isnan(detrend(y)[4]) and np.isfinite(detrend(y)).sum() == 9
    assert compare(np.ones(5), np.arange(5.0)) == {"r": None, "gain": None, "r_steps": None}
    assert compare(np.full(2, 1.0), np.full(2, 2.0))["r"] is None


def test_main_refuses_without_input(capsys):
    with pytest.raises(SystemExit):
        main(["--cache", "x"])
    assert main(["--cache", "x", "--video", "no/such.mp4"]) == 2
    assert "no/such.mp4: no such video" in capsys.readouterr().err


def test_an_ibug_track_is_measured_at_its_own_points():
    """A 68-point track (iBUG 48/54 and 51/57 for the mouth's width and opening) gives the MediaPipe
    track's numbers for the same motion."""
    from emoface.morphable.mediapipe_indices import MEDIAPIPE_TO_IBUG68

    from bench.bench_real_motion import scheme_pair

    assert scheme_pair("ibug68", PAIRS["mouth width"]) == (48, 54)
    assert scheme_pair("ibug68", PAIRS["mouth opening"]) == (51, 57)
    assert scheme_pair("mediapipe478", PAIRS["mouth width"]) == PAIRS["mouth width"]
    with pytest.raises(ValueError, match="no point at MediaPipe point 1"):
        scheme_pair("ibug68", (1, 61))
    width, opening = _motion(2)
    truth = _face(width, opening)
    det = _face(60 + 0.5 * (width - 60), opening)
    flow = _flow_of(truth)
    mp = measure(ClipMotion("c", "generated", det, np.ones(T, bool), flow, truth))
    ib = measure(ClipMotion("c", "generated", det[:, MEDIAPIPE_TO_IBUG68], np.ones(T, bool), flow[:, MEDIAPIPE_TO_IBUG68],
                            truth[:, MEDIAPIPE_TO_IBUG68], scheme="ibug68"))
    for name in PAIRS:
        for ref in ("detector_vs_truth", "detector_vs_flow"):
            assert ib[name][ref]["gain"] == pytest.approx(mp[name][ref]["gain"], abs=1e-9)
    assert ib["iod_px"] == pytest.approx(mp["iod_px"])
    assert ib["mouth width"]["detector_vs_truth"]["gain"] == pytest.approx(0.5, abs=0.02)
