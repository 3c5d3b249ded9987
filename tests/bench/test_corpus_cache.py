"""bench.corpus_cache computes the optical flow of a clip from its video, as the fit's flow term needs it, and caches it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "ravdess" / "actor05_neutral_1s.mp4"


def test_with_flow_adds_the_videos_flow_to_every_track_and_caches_it(tmp_path):
    from bench.bench_fit import decode_and_landmark
    from bench.corpus_cache import ClipData, with_flow
    from emoface.morphable import load
    from pipeline.fitting import FitConfig, FlowConfig, fit_clip, fit_identity

    _, track, _ = decode_and_landmark(FIXTURE)
    data = {5: [ClipData(track, "", 1.0, 1.0, None, str(FIXTURE))]}
    cfg = FlowConfig(weight=1.0, preset="ultrafast", max_size=160)
    out, cpu = with_flow(data, cfg, tmp_path)
    flow = out[5][0].track.flow
    assert flow.shape == (track.n_frames, 478, 2) and cpu > 0
    assert np.isnan(flow[0]).all()
    pair = track.valid[1:] & track.valid[:-1]
    assert np.isfinite(flow[1:][pair]).mean() > 0.8
    # a neutral actor sitting still: the flow at the landmarks is the landmarks' own small motion
    motion = track.landmarks[1:, :, :2] - track.landmarks[:-1, :, :2]
    assert np.nanmedian(np.linalg.norm(flow[1:][pair] - motion[pair], axis=-1)) < 1.0
    import pipeline.fitting.flow as flow_module

    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{track.clip_id}.flow-ultrafast-160-0.15-0.03.{ext}"
                                                          for ext in ("json", "npy")]
    real = flow_module.track_flow
    flow_module.track_flow = lambda *a, **k: (_ for _ in ()).throw(AssertionError("not from the cache"))
    try:
        again, _ = with_flow(data, cfg, tmp_path)  # from the cache
    finally:
        flow_module.track_flow = real
    np.testing.assert_array_equal(again[5][0].track.flow, flow)
    assert data[5][0].track.flow is None  # the input is not modified
    model = load("demo")
    ident = fit_identity([track], model, cfg=FitConfig())
    fit = fit_clip(out[5][0].track, ident, model, cfg=FitConfig(flow=cfg))
    assert np.isfinite(fit.expression).all()


def test_a_video_of_another_length_than_its_track_is_an_error_naming_it(tmp_path):
    from dataclasses import replace

    import pytest

    from bench.bench_fit import decode_and_landmark
    from bench.corpus_cache import cached_flow
    from pipeline.fitting import FlowConfig

    _, track, _ = decode_and_landmark(FIXTURE)
    short = replace(track, landmarks=track.landmarks[:-3], valid=track.valid[:-3], blendshapes=track.blendshapes[:-3],
                    transforms=track.transforms[:-3])
    with pytest.raises(ValueError, match=f"{FIXTURE.name}: .*frames decoded, the track has {track.n_frames - 3}"):
        cached_flow(str(FIXTURE), short, FlowConfig(preset="ultrafast", max_size=160), tmp_path, "x")
    assert not list(tmp_path.iterdir())  # nothing cached


def test_a_video_the_build_cannot_decode_is_an_error_naming_it_and_nothing_is_cached(tmp_path):
    import imageio.v2 as imageio
    import pytest

    from bench.corpus_cache import cached_track

    silent = tmp_path / "silent.mp4"  # frames, no audio track: the build refuses it
    with imageio.get_writer(silent, fps=30, macro_block_size=1) as w:
        for _ in range(5):
            w.append_data(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="silent.mp4: no audio track"):
        cached_track(silent, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_one_cache_per_detector(tmp_path, monkeypatch):
    """A cached track of another detector is an error naming the file; another detector's flow (sampled at its
    own points) is cached under another name than MediaPipe's."""
    from dataclasses import replace

    import pytest

    import pipeline.fitting.flow as flow_module
    from bench.corpus_cache import cached_flow, cached_track
    from pipeline.fitting import FlowConfig

    track, _ = cached_track(FIXTURE, tmp_path / "cache")  # MediaPipe's, decoded once
    assert track.detector == "mediapipe"
    assert cached_track(FIXTURE, tmp_path / "cache")[0].n_frames == track.n_frames  # from the cache
    with pytest.raises(ValueError, match=rf"{FIXTURE.stem}\.npz: landmarks of the detector 'mediapipe', not 'dlib'"):
        cached_track(FIXTURE, tmp_path / "cache", detector="dlib")
    calls = []
    monkeypatch.setattr(flow_module, "track_flow", lambda video, tr, cfg: (calls.append(tr.detector) or
                                                                          (np.zeros(tr.landmarks.shape[:2] + (2,)), 0.1)))
    cfg = FlowConfig(preset="ultrafast", max_size=160)
    cached_flow(str(FIXTURE), track, cfg, tmp_path / "flow")
    cached_flow(str(FIXTURE), replace(track, detector="dlib"), cfg, tmp_path / "flow")
    assert calls == ["mediapipe", "dlib"]  # the second is not read from the first's cache
    assert sorted(p.name for p in (tmp_path / "flow").glob("*.npy")) == [
        f"{track.clip_id}.flow-ultrafast-160-0.15-0.03.dlib.npy", f"{track.clip_id}.flow-ultrafast-160-0.15-0.03.npy"]


def test_fused_averages_the_second_detectors_points_into_the_first_at_the_same_places():
    import pytest

    from bench.corpus_cache import ClipData, fused
    from emoface.morphable.mediapipe_indices import MEDIAPIPE_TO_IBUG68 as M
    from pipeline.fitting import LandmarkTrack

    rng = np.random.default_rng(0)
    T = 6
    mp = LandmarkTrack(rng.uniform(0, 100, (T, 478, 3)), np.array([1, 1, 0, 1, 1, 1], bool), None, None, 200, 200,
                       clip_id="01-01-01-01-01-01-01", detector="mediapipe")
    ib = LandmarkTrack(rng.uniform(0, 100, (T, 68, 3)), np.array([1, 1, 1, 0, 1, 1], bool), None, None, 200, 200,
                       clip_id="01-01-01-01-01-01-01", scheme="ibug68", detector="dlib")
    data = {1: [ClipData(mp, "", 1.0, 1.0, None)]}
    out = fused(data, {1: [ClipData(ib, "", 1.0, 1.0, None)]})[1][0].track
    both = np.array([1, 1, 0, 0, 1, 1], bool)
    np.testing.assert_allclose(out.landmarks[both][:, M, :2], 0.5 * (mp.landmarks[both][:, M, :2] + ib.landmarks[both][:, :, :2]),
                               rtol=1e-6)
    np.testing.assert_array_equal(out.landmarks[~both], mp.landmarks[~both])  # a frame one of them missed: MediaPipe's
    others = np.setdiff1d(np.arange(478), M)
    np.testing.assert_array_equal(out.landmarks[:, others], mp.landmarks[:, others])
    np.testing.assert_array_equal(out.landmarks[..., 2], mp.landmarks[..., 2])  # depth stays MediaPipe's
    assert out.detector == "mediapipe+dlib" and out.scheme == "mediapipe478" and data[1][0].track is mp
    lips = fused(data, {1: [ClipData(ib, "", 1.0, 1.0, None)]}, "lips")[1][0].track
    np.testing.assert_array_equal(lips.landmarks[:, M[:48]], mp.landmarks[:, M[:48]])
    assert not np.array_equal(lips.landmarks[:, M[48:]], mp.landmarks[:, M[48:]])
    with pytest.raises(ValueError, match="01-01-01-01-01-01-01: no iBUG-68 track"):
        fused(data, {1: []})
    with pytest.raises(ValueError, match="01-01-01-01-01-01-01: no mediapipe478 track of 6 frames to fuse"):
        fused(data, data)  # a second MediaPipe track is not an iBUG one
    from dataclasses import replace

    short = replace(ib, landmarks=ib.landmarks[:5], valid=ib.valid[:5])
    with pytest.raises(ValueError, match="no ibug68 track of 6 frames"):
        fused(data, {1: [ClipData(short, "", 1.0, 1.0, None)]})
