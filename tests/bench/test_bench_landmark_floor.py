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
    for k in range(5):
        a = rng.uniform(-np.pi, np.pi)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        pts.append(rng.uniform(0.5, 3) * ref @ R.T + rng.normal(size=2) * 10)
    out = align_2d(np.stack(pts), ref)
    np.testing.assert_allclose(out, np.broadcast_to(ref - ref.mean(0), out.shape), atol=1e-9)


def _frames(informative: bool, seed: int = 0) -> Frames:
    """4 actors x 8 emotions x 1 clip x 20 frames; offsets = emotion pattern + motion, features = a fixed linear
    image of the offsets (informative) or noise."""
    rng = np.random.default_rng(seed)
    patterns = rng.normal(size=(9, V, 3)) * 1e-3
    mix = rng.normal(size=(V * 3, 2 * N))
    det, off, actor, clip, emotion = [], [], [], [], []
    for a in range(4):
        for e in range(1, 9):
            o = patterns[e] + rng.normal(size=(20, V, 3)) * 3e-4
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
