"""fit_clip on self-generated ground truth: demo-head landmarks rendered through a known camera."""

import numpy as np
import pytest
import torch

from emoface.mesh.camera import PinholeCamera
from emoface.morphable import MorphableLayer
from pipeline.fitting import (ClipFit, FitConfig, FitError, IdentityFit, LandmarkTrack, ModelConfig, RobustConfig,
                              canonicalize, fit_clip)
from synthetic_tracks import CAM, make_clip
from synthetic_tracks import known_identity as _identity


def test_recovers_parameters_and_meshes(demo):
    rng = np.random.default_rng(0)
    shape = rng.normal(size=demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=45, seed=1, noise_px=1.0)
    fit = fit_clip(c.track, _identity(shape), demo, cfg=FitConfig())
    assert fit.converged and fit.iterations <= FitConfig().solver.max_iterations
    assert fit.valid.all() and not fit.interpolated.any()
    # reprojection error at the noise level (1 px per axis -> ~1.25 px mean norm)
    assert 0.8 < np.median(fit.fit_error) < 1.6
    assert np.abs(fit.jaw[:, 0] - c.jaw[:, 0]).mean() < 0.01  # rad
    assert np.abs(fit.head_rotation - c.rotation).mean() < 0.01
    assert np.abs(fit.head_translation - c.translation).mean() < 0.003  # m
    assert np.abs(fit.expression - c.expression).mean() < 0.08
    # front-facing meshes against the truth, in millimetres
    verts, template = canonicalize(fit, None, demo)
    layer = MorphableLayer(demo)
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    gt = layer(shape=f(shape)[None].expand(45, -1), expression=f(c.expression), jaw=f(c.jaw)).vertices.numpy()
    err_mm = 1000 * np.linalg.norm(verts - gt, axis=-1).mean()
    assert err_mm < 0.6
    assert verts.shape == (45, demo.n_vertices, 3) and template.shape == (demo.n_vertices, 3)


def test_ibug68_embedding_through_the_mediapipe_map(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=30, seed=2, noise_px=0.5)
    cfg = FitConfig(model=ModelConfig(embedding="ibug68"))
    fit = fit_clip(c.track, _identity(shape, embedding="ibug68"), demo, cfg=cfg)
    assert fit.embedding == "ibug68"
    assert np.abs(fit.head_rotation - c.rotation).mean() < 0.02
    assert np.abs(fit.jaw[:, 0] - c.jaw[:, 0]).mean() < 0.03


def test_missing_frames_are_interpolated_and_flagged(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=40, seed=3, missing=slice(18, 23))
    c.track.valid[:2] = False  # also at the start: held from the first detection
    c.track.landmarks[:2] = 0.0
    fit = fit_clip(c.track, _identity(shape), demo)
    assert fit.interpolated[18:23].all() and fit.interpolated[:2].all() and fit.interpolated.sum() == 7
    assert np.all(fit.fit_error[fit.interpolated] == -1) and np.all(fit.fit_error[~fit.interpolated] > 0)
    # parameters in the gap lie between the neighbours (never zeros) and near the truth
    gap = fit.head_translation[18:23]
    assert np.all(gap[:, 2] < -0.5)
    assert np.abs(fit.head_rotation[18:23] - c.rotation[18:23]).max() < 0.05
    lo = np.minimum(fit.head_rotation[17], fit.head_rotation[23]) - 1e-4
    hi = np.maximum(fit.head_rotation[17], fit.head_rotation[23]) + 1e-4
    assert np.all((fit.head_rotation[18:23] >= lo) & (fit.head_rotation[18:23] <= hi))
    assert np.allclose(fit.head_rotation[0], fit.head_rotation[2], atol=1e-3)


def test_robust_loss_resists_outliers(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=30, seed=4, noise_px=0.5, outlier_frac=0.08)
    errs = {}
    for kind in ("l2", "huber", "geman_mcclure"):
        fit = fit_clip(c.track, _identity(shape), demo, cfg=FitConfig(robust=RobustConfig(loss=kind)))
        errs[kind] = np.abs(fit.expression - c.expression).mean()
    assert errs["huber"] < 0.8 * errs["l2"] and errs["geman_mcclure"] < 0.8 * errs["l2"]


def test_failures_are_clear(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=10, seed=5)
    t = c.track
    none = LandmarkTrack(t.landmarks, np.zeros(10, bool), t.blendshapes, t.transforms, t.width, t.height, 30.0, "clipA")
    with pytest.raises(FitError, match="clipA: no face detected"):
        fit_clip(none, _identity(shape), demo)
    bad = LandmarkTrack(t.landmarks.copy(), t.valid, t.blendshapes, t.transforms, t.width, t.height, 30.0, "clipB")
    bad.landmarks[4, 10, 0] = np.nan
    with pytest.raises(FitError, match="clipB: non-finite landmarks in 1 detected frame"):
        fit_clip(bad, _identity(shape), demo)
    wrong = PinholeCamera.from_fov(640, 480, 30.0)
    with pytest.raises(FitError, match="camera is 640x480 but the video is 1280x720"):
        fit_clip(t, _identity(shape, camera=wrong), demo)
    # landmarks that no head pose explains: reported as a divergence, not returned
    junk = LandmarkTrack(t.landmarks.copy(), t.valid, t.blendshapes, t.transforms, t.width, t.height, 30.0, "clipC")
    junk.landmarks[:, :, :2] = np.random.default_rng(0).uniform(0, 720, size=junk.landmarks[:, :, :2].shape)
    with pytest.raises(FitError, match="clipC: fit diverged"):
        fit_clip(junk, _identity(shape), demo)


def test_records_round_trip(tmp_path, demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=8, seed=6)
    c.track.save(tmp_path / "t.npz")
    t2 = LandmarkTrack.load(tmp_path / "t.npz")
    assert np.array_equal(t2.landmarks, c.track.landmarks) and t2.clip_id == "synthetic" and t2.width == 1280
    ident = _identity(shape)
    ident.save(tmp_path / "i.npz")
    i2 = IdentityFit.load(tmp_path / "i.npz")
    assert i2.camera == ident.camera and np.array_equal(i2.shape, ident.shape)
    fit = fit_clip(c.track, ident, demo)
    fit.save(tmp_path / "f.npz")
    f2 = ClipFit.load(tmp_path / "f.npz")
    assert np.array_equal(f2.expression, fit.expression) and f2.camera == fit.camera and f2.embedding == "mediapipe"
    p = f2.params()
    assert set(p) == {"shape", "expression", "jaw", "neck", "eyes", "head_rotation", "head_translation", "camera"}
    assert p["eyes"].shape == (8, 6) and p["camera"].shape == (6,)
