"""fit_identity: shape (and focal length) from frames sampled across clips."""

import numpy as np
import pytest

from emoface.mesh.camera import PinholeCamera
from emoface.morphable import load
from pipeline.fitting import CameraConfig, FitConfig, IdentityConfig, FitError, fit_identity, sample_frames
from pipeline.fitting.identity import scale_direction
from synthetic_tracks import make_clip
from toy_model import toy_model


def test_sample_frames_spreads_over_clips():
    demo = load("demo")
    cam = PinholeCamera.from_fov(1280, 720, 30.0)
    clips = [make_clip(demo, np.zeros(30), cam, n_frames=n, seed=i).track for i, n in enumerate((10, 40, 40))]
    clips[1].valid[:20] = False
    picks = sample_frames(clips, 30, seed=0)
    counts = {i: len(f) for i, f in picks}
    assert sum(counts.values()) == 30 and counts[0] == 10 and counts[1] == 10 and counts[2] == 10
    assert all(clips[i].valid[f].all() for i, f in picks)
    assert all(len(np.unique(f)) == len(f) for _, f in picks)
    assert sample_frames(clips, 30, seed=0)[2][1].tolist() == picks[2][1].tolist()  # deterministic


def test_shape_recovered_up_to_the_unobservable_scale():
    demo = load("demo")
    cam = PinholeCamera.from_fov(1280, 720, 28.0)
    rng = np.random.default_rng(7)
    shape = rng.normal(size=demo.n_shape)
    tracks = [make_clip(demo, shape, cam, n_frames=40, seed=s, noise_px=1.0).track for s in range(3)]
    cfg = FitConfig(identity=IdentityConfig(frames=60), camera=CameraConfig(fov_y_deg=28.0, estimate_focal=False))
    ident = fit_identity(tracks, demo, cfg=cfg)
    assert ident.n_frames == 60 and ident.embedding == "mediapipe" and ident.camera == cam
    u = scale_direction(demo, demo.n_shape)
    assert abs(float(ident.shape @ u)) < 0.01  # size pinned to the mean size
    true_rest = shape - (shape @ u) * u  # the observable part of the truth
    err = np.abs(ident.shape - true_rest)
    assert err.mean() < 0.26, err  # 0.255 with demo head 2 (0.25 bound with head 1): depth-heavy components are weakly seen
    assert ident.error_iod < 0.012


def test_focal_length_estimated_from_a_wrong_prior():
    toy = toy_model()  # its shape basis cannot scale the face, so the focal length is observable
    true = PinholeCamera.from_fov(1280, 720, 30.0)
    rng = np.random.default_rng(3)
    shape = rng.normal(size=toy.n_shape)
    tracks = [make_clip(toy, shape, true, n_frames=30, seed=s, noise_px=0.5).track for s in range(3)]
    # exact landmarks: every frame is real evidence (the default discounts a detector's static bias)
    cfg = FitConfig(identity=IdentityConfig(frames=45, effective_frames=45.0),
                    camera=CameraConfig(fov_y_deg=45.0, estimate_focal=True, focal_log_std=1.0))
    ident = fit_identity(tracks, toy, cfg=cfg)
    assert ident.focal_estimated
    assert abs(ident.camera.fy / true.fy - 1.0) < 0.05
    fixed = fit_identity(tracks, toy, cfg=FitConfig(identity=IdentityConfig(frames=45, effective_frames=45.0),
                                                    camera=CameraConfig(fov_y_deg=45.0, estimate_focal=False)))
    assert fixed.camera.fy == pytest.approx(PinholeCamera.from_fov(1280, 720, 45.0).fy)
    assert np.abs(fixed.shape[: toy.n_shape] - shape).mean() > np.abs(ident.shape[: toy.n_shape] - shape).mean()


def test_identity_failures():
    demo = load("demo")
    cam = PinholeCamera.from_fov(1280, 720, 30.0)
    t = make_clip(demo, np.zeros(30), cam, n_frames=5, seed=0).track
    t.valid[:] = False
    with pytest.raises(FitError, match="no face detected in any of 1 clips"):
        fit_identity([t], demo)
    with pytest.raises(FitError, match="no clips"):
        fit_identity([], demo)
    small = make_clip(demo, np.zeros(30), PinholeCamera.from_fov(640, 480, 30.0), n_frames=5, seed=0).track
    ok = make_clip(demo, np.zeros(30), cam, n_frames=5, seed=0).track
    with pytest.raises(FitError, match="differ in size"):
        fit_identity([ok, small], demo)


def test_scale_direction_only_where_the_basis_can_scale():
    demo = load("demo")
    u = scale_direction(demo, demo.n_shape)
    assert np.linalg.norm(u) == pytest.approx(1.0)
    V = demo.n_vertices
    scaled = demo.shapedirs.reshape(V * 3, -1) @ u  # a pure scaling (up to a translation)
    A = np.concatenate([demo.v_template.reshape(-1, 1), np.tile(np.eye(3), (V, 1))], 1).astype(np.float64)
    coef = np.linalg.lstsq(A, scaled, rcond=None)[0]  # scaled = k * template + translation
    assert np.linalg.norm(scaled - A @ coef) < 1e-3 * np.linalg.norm(scaled) and abs(coef[0]) > 0.01
    assert np.all(scale_direction(toy_model(), 12) == 0)  # random smooth fields: nothing to pin
