"""bench.bench_landmark_floor: the 2D alignment, and a map that recovers offsets exactly when the
landmarks hold them and recovers nothing when they do not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench.bench_landmark_floor import Frames, align_2d, leave_one_actor_out, main, markdown, run, score

V, N = 12, 20
REGIONS = {"lips": np.arange(0, 4), "eye_region": np.arange(4, 8), "forehead": np.arange(8, 12)}


def test_align_2d_undoes_a_similarity():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(N, 2))
    pts = []
    for k in range(6):
        a = rng.uniform(-np.pi, np.pi)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        pts.append(rng.uniform(0.5, 3) * ref @ R.T + rng.normal(size=2) * 10)
    out = align_2d(np.stack(pts), ref)
    np.testing.assert_allclose(out, np.broadcast_to(ref - ref.mean(0), out.shape), atol=1e-9)
    # a mirrored shape is not a similarity of the reference: no reflection is used to match it
    mirrored = align_2d((ref * [-1, 1])[None], ref)[0]
    assert np.abs(mirrored - (ref - ref.mean(0))).max() > 0.1


def _frames(informative: bool, seed: int = 0, actor_shift: float = 0.0) -> Frames:
    """4 actors x 8 emotions x 1 clip x 20 frames; offsets = emotion pattern + motion (+ an actor's own mean offset,
    ``actor_shift`` m in x), features = a fixed linear image of the offsets (informative) or noise."""
    rng = np.random.default_rng(seed)
    patterns = rng.normal(size=(9, V, 3)) * 1e-3
    mix = rng.normal(size=(V * 3, 2 * N))
    det, off, actor, clip, emotion = [], [], [], [], []
    for a in range(4):
        for e in range(1, 9):
            o = patterns[e] + rng.normal(size=(20, V, 3)) * 3e-4 + np.array([a * actor_shift, 0, 0])
            off.append(o)
            det.append(o.reshape(20, -1) @ mix * 1e3 + rng.normal(size=(20, 2 * N)) * 1e-3 if informative
                       else rng.normal(size=(20, 2 * N)))
            actor += [a] * 20
            clip += [f"{a}-{e}"] * 20
            emotion += [e] * 20
    d = np.concatenate(det)
    return Frames(d, d.copy(), np.concatenate(off), np.array(actor), np.array(clip), np.array(emotion))


@pytest.mark.parametrize("informative", [True, False])
def test_the_map_recovers_what_the_landmarks_hold(informative):
    model = SimpleNamespace(regions=REGIONS)
    f = _frames(informative)
    s = score(*leave_one_actor_out(f, "detector", 1e-3), f, model)
    true_size = 1000 * np.linalg.norm(f.offsets, axis=-1).mean()
    if informative:
        assert s["face"]["total"] < 0.05 * true_size
        assert s["recognisability"]["predicted"] == pytest.approx(s["recognisability"]["truth"])
    else:
        assert s["face"]["dynamic"] > 0.5 * 1000 * np.linalg.norm(f.offsets - f.offsets.mean(0), axis=-1).mean() / 2
        assert s["recognisability"]["predicted"] < 0.5 < s["recognisability"]["truth"]


def test_run_and_markdown_cover_both_tests():
    model = SimpleNamespace(regions=REGIONS)
    rows = run(_frames(True), model, [1.0], holdout=_frames(True, seed=0))
    assert [(r["landmarks"], r["test"]) for r in rows] == [
        ("detector", "leave one actor out"), ("detector", "held-out corpus"),
        ("oracle", "leave one actor out"), ("oracle", "held-out corpus")]
    assert markdown(rows).count("\n") == 5


def test_main_names_a_corpus_without_clips(tmp_path, capsys):
    assert main(["--corpus", str(tmp_path), "--cache", str(tmp_path / "c")]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_landmark_errors_split_a_per_clip_offset_from_motion():
    from bench.bench_landmark_floor import landmark_errors

    rng = np.random.default_rng(1)
    ref = rng.normal(size=(468, 2)) * 50
    n = 2 * 3 * 10  # 2 actors x 3 clips x 10 frames
    oracle = rng.normal(size=(n, 936))
    clip = np.repeat(np.arange(6), 10).astype(str)
    actor = np.repeat(np.arange(2), 30)
    detector = oracle + rng.normal(size=(6, 936))[np.repeat(np.arange(6), 10)]  # one offset per clip
    f = Frames(detector, oracle, np.zeros((n, 1, 3)), actor, clip, np.ones(n, int))
    e = landmark_errors(f, ref)
    assert set(e) == {"lips", "eyes", "brows"}
    for g in e.values():
        assert max(g["dynamic_error"]) < 1e-9 < min(g["static_error"])
        assert min(g["dynamic_true"]) > 0



def test_an_actors_own_mean_offset_is_not_known_to_its_prediction():
    """Actor a's offsets carry a mean of a * 1 mm in x; actor-centred inputs cannot show it, so the prediction adds
    the other actors' mean: its static error is |a - mean of the others| mm (the test actor's truth never leaks)."""
    model = SimpleNamespace(regions=REGIONS)
    f = _frames(True, actor_shift=1e-3)
    pred, const = leave_one_actor_out(f, "detector", 1e-3)
    for a in range(4):
        others = np.mean([b for b in range(4) if b != a])
        one = _subset_score(pred, const, f, model, a)
        assert one == pytest.approx(abs(a - others), abs=0.15)


def _subset_score(pred, const, f, model, a):
    from bench.bench_landmark_floor import _subset

    keep = f.actor == a
    s = score(pred[keep], const[keep], _subset(f, keep), model)
    return s["face"]["static"]


def test_static_is_averaged_per_clip_and_the_rest_per_frame():
    model = SimpleNamespace(regions=REGIONS)
    f = _frames(True)
    keep = np.ones(len(f.actor), bool)
    keep[np.flatnonzero(f.clip == "0-1")[10:]] = False  # clip 0-1 keeps 10 of its 20 frames
    from bench.bench_landmark_floor import _subset

    g = _subset(f, keep)
    err = np.zeros_like(g.offsets)
    err[g.clip == "0-1"] = 1e-3  # 1 mm on every vertex of that clip only, constant: static and total
    s = score(g.offsets + err, np.zeros(g.offsets.shape[1:]), g, model)
    n_clips = len(set(g.clip.tolist()))
    assert s["face"]["static"] == pytest.approx(1.0 / n_clips * np.sqrt(3))
    assert s["face"]["total"] == pytest.approx(10 * np.sqrt(3) / len(g.clip))
    assert s["face"]["dynamic"] == pytest.approx(0.0, abs=1e-9)


def test_landmark_errors_keep_the_axes_apart_and_scale_by_the_iod():
    from bench.bench_landmark_floor import landmark_errors
    from emoface.morphable.mediapipe_indices import LIPS

    rng = np.random.default_rng(2)
    ref = rng.normal(size=(468, 2)) * 50
    ref[33], ref[263] = (0.0, 0.0), (100.0, 0.0)  # inter-ocular distance 100
    n = 2 * 10
    truth = np.zeros((n, 468, 2))
    det = truth.copy()
    det[::2, LIPS, 0] += 2.0  # the lips' x alternates by 2 px frame to frame: 1 px RMS about the clip mean
    clip, actor = np.repeat(["a", "b"], 10), np.repeat([0, 1], 10)
    f = Frames(det.reshape(n, -1), truth.reshape(n, -1), np.zeros((n, 1, 3)), actor, clip, np.ones(n, int),
               truth.reshape(n, -1))
    e = landmark_errors(f, ref)
    assert e["lips"]["dynamic_error"] == pytest.approx([1.0, 0.0])  # 1 px of 100 = 1%
    assert e["eyes"]["dynamic_error"] == pytest.approx([0.0, 0.0])
