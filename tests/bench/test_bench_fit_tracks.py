"""bench.bench_fit reads a clip the way the build does: the track carries every field of the landmarks stage."""

from __future__ import annotations

from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "ravdess" / "actor05_neutral_1s.mp4"


def test_bench_track_has_the_blendshape_names_the_fit_initialises_the_jaw_from():
    # the bench once built its LandmarkTrack by hand and dropped the blendshape names, so the
    # fit's jawOpen initialisation (which looks the score up by name) silently did not run
    from bench.bench_fit import decode_and_landmark
    from pipeline.fitting.init import initial_jaw_open

    _, track, _ = decode_and_landmark(FIXTURE)
    assert track.blendshapes is not None and "jawOpen" in track.blendshape_names
    assert track.detector == "mediapipe" and track.scheme == "mediapipe478"
    jaw = initial_jaw_open(track.blendshapes, track.blendshape_names, track.n_frames)
    assert getattr(jaw, "shape", ()) == (track.n_frames,)


def test_oracle_track_is_in_the_tracks_scheme(monkeypatch):
    """The oracle of an iBUG-68 track holds the truth at the 68 points' MediaPipe vertices; a MediaPipe track's
    oracle is as before (the same noise draws, the iris points kept as detected)."""
    import numpy as np
    from dataclasses import replace

    import pipeline.qa.ground_truth as gt_module
    from bench.bench_fit import decode_and_landmark, oracle_track
    from emoface.morphable.mediapipe_indices import MEDIAPIPE_TO_IBUG68

    _, track, _ = decode_and_landmark(FIXTURE)
    T = track.n_frames
    true = np.random.default_rng(3).uniform(0, 500, (T, 468, 2))
    monkeypatch.setattr(gt_module, "_gt_landmarks", lambda gt, model, idx, emb: true)
    from types import SimpleNamespace

    model = SimpleNamespace(landmark_embeddings={})  # a model (the true positions are patched in above)
    mp = oracle_track(track, None, model, 1.0, 7)
    expected = true + np.random.default_rng(7).normal(size=true.shape)
    np.testing.assert_allclose(mp.landmarks[:, :468, :2], expected, atol=1e-3)
    np.testing.assert_array_equal(mp.landmarks[:, 468:], track.landmarks[:, 468:])
    assert mp.scheme == "mediapipe478" and mp.valid.all()
    ib_track = replace(track, landmarks=track.landmarks[:, MEDIAPIPE_TO_IBUG68], scheme="ibug68", blendshapes=None,
                       transforms=None, blendshape_names=())
    ib = oracle_track(ib_track, None, model, 0.0, 7)
    assert ib.scheme == "ibug68" and ib.landmarks.shape == (T, 68, 3) and ib.blendshapes is None
    np.testing.assert_allclose(ib.landmarks[..., :2], true[:, MEDIAPIPE_TO_IBUG68], atol=1e-3)
