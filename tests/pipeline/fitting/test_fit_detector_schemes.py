"""The fitter with what other detectors give: no blendshapes, no head transform (initial pose
from PnP), iBUG-68 points, per-point confidence."""

import numpy as np
import pytest

from emoface.morphable.mediapipe_indices import MEDIAPIPE_TO_IBUG68
from pipeline.fitting import FitConfig, LandmarkTrack, fit_clip
from pipeline.fitting.clip import landmark_model_for
from pipeline.fitting.init import initial_rotation_from_points
from pipeline.fitting.problem import make_targets
from pipeline.fitting.schemes import config_for_scheme, embedding_for_scheme, track_columns
from synthetic_tracks import CAM, known_identity, make_clip


def _bare(track: LandmarkTrack, **kw) -> LandmarkTrack:
    """The same detections without blendshapes and transforms (a detector that gives neither)."""
    return LandmarkTrack(kw.pop("landmarks", track.landmarks), track.valid, None, None, track.width, track.height,
                         track.fps, track.clip_id, **kw)


def test_pnp_initial_rotation_recovers_the_pose(demo):
    c = make_clip(demo, np.zeros(demo.n_shape), CAM, n_frames=8, seed=4, noise_px=0.5)
    lm = landmark_model_for(demo, FitConfig())
    t = make_targets(c.track, lm, FitConfig())
    import torch

    z = torch.zeros(8, 3, dtype=torch.float64)
    q = lm.evaluate(torch.zeros(lm.n_shape, dtype=torch.float64), torch.as_tensor(c.expression[:, :lm.n_expression]),
                    torch.as_tensor(c.jaw), z, z, 1.0, 1.0, 0.0, 0.0).points.numpy()
    rot = initial_rotation_from_points(q, t.uv.numpy(), t.weight.numpy(), CAM)
    assert np.abs(rot - c.rotation).max() < 0.02
    # a frame with too few usable points gets the frontal pose
    w = t.weight.numpy().copy()
    w[0, 3:] = 0
    assert np.array_equal(initial_rotation_from_points(q, t.uv.numpy(), w, CAM)[0], np.zeros(3))


def test_fit_without_blendshapes_and_transforms(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=30, seed=5, noise_px=0.5)
    fit = fit_clip(_bare(c.track), known_identity(shape), demo)
    assert np.abs(fit.head_rotation - c.rotation).mean() < 0.01
    assert np.abs(fit.jaw[:, 0] - c.jaw[:, 0]).mean() < 0.02
    assert np.median(fit.fit_error) < 1.0


def _ibug_track(track: LandmarkTrack, confidence=None) -> LandmarkTrack:
    """The MediaPipe detections at the 68 points of the correspondence, in iBUG order."""
    return _bare(track, landmarks=track.landmarks[:, MEDIAPIPE_TO_IBUG68], scheme="ibug68", confidence=confidence)


def test_ibug68_track_fits_the_ibug68_embedding(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=30, seed=6, noise_px=0.5)
    track = _ibug_track(c.track)
    emb = embedding_for_scheme(demo.landmark_embeddings, "ibug68")
    assert emb == "ibug68" and embedding_for_scheme(demo.landmark_embeddings, "mediapipe478") == "auto"
    fit = fit_clip(track, known_identity(shape, embedding=emb), demo)
    assert fit.embedding == "ibug68"
    assert np.abs(fit.head_rotation - c.rotation).mean() < 0.02
    assert np.abs(fit.jaw[:, 0] - c.jaw[:, 0]).mean() < 0.03


def test_track_columns_map_ibug_points_to_the_model(demo):
    lm = landmark_model_for(demo, FitConfig())  # mediapipe embedding, thinned
    cols, present = track_columns("ibug68", lm.embedding, lm.source_index, lm.mp_index)
    # every iBUG point found among the embedded landmarks sits at its MediaPipe vertex
    assert np.array_equal(MEDIAPIPE_TO_IBUG68[cols[present]], lm.mp_index[present])
    assert 60 <= present.sum() <= 68 and not present.all()
    cols, present = track_columns("mediapipe478", lm.embedding, lm.source_index, lm.mp_index)
    assert present.all() and np.array_equal(cols, lm.mp_index)
    ib = landmark_model_for(demo, FitConfig(), embedding="ibug68")
    cols, present = track_columns("ibug68", "ibug68", ib.source_index, ib.mp_index)
    assert present.all() and np.array_equal(cols, np.arange(68))


def test_confidence_scales_the_weights(demo):
    c = make_clip(demo, np.zeros(demo.n_shape), CAM, n_frames=4, seed=7)
    conf = np.full((4, 68), 0.5, np.float32)
    conf[:, 30] = 0.0
    lm = landmark_model_for(demo, FitConfig(), embedding="ibug68")
    full = make_targets(_ibug_track(c.track), lm, FitConfig()).weight.numpy()
    half = make_targets(_ibug_track(c.track, conf), lm, FitConfig()).weight.numpy()
    expected = full * 0.5
    expected[:, 30] = 0.0
    np.testing.assert_allclose(half, expected)
    with pytest.raises(ValueError, match="confidence"):
        _ibug_track(c.track, np.full((4, 68), 1.5, np.float32))


def test_track_round_trip_without_optional_fields(tmp_path):
    t = LandmarkTrack(np.ones((3, 68, 3)), [True, False, True], None, None, 64, 48, 25.0, "c", scheme="ibug68",
                      confidence=np.full((3, 68), 0.25), detector="fan", detector_note="unmeasured")
    t.save(tmp_path / "t.npz")
    u = LandmarkTrack.load(tmp_path / "t.npz")
    assert u.blendshapes is None and u.transforms is None and u.scheme == "ibug68" and u.detector_note == "unmeasured"
    np.testing.assert_array_equal(u.confidence, t.confidence)
    with pytest.raises(ValueError, match="68 points"):
        LandmarkTrack(np.ones((3, 60, 3)), np.ones(3, bool), None, None, 64, 48, scheme="ibug68")


def test_config_for_scheme_is_what_the_build_fits(demo):
    """An iBUG track with ``embedding: auto`` is fitted through the model's iBUG-68 embedding; anything else keeps
    the config as it is (the same object)."""
    cfg = FitConfig()
    ib = config_for_scheme(cfg, demo.landmark_embeddings, "ibug68")
    assert ib.model.embedding == "ibug68" and cfg.model.embedding == "auto"
    assert ib.landmarks == cfg.landmarks and ib.prior == cfg.prior
    assert config_for_scheme(cfg, demo.landmark_embeddings, "mediapipe478") is cfg
    import dataclasses

    chosen = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, embedding="mediapipe"))
    assert config_for_scheme(chosen, demo.landmark_embeddings, "ibug68") is chosen  # a chosen embedding stays
    only_mediapipe = {k: v for k, v in demo.landmark_embeddings.items() if not k.startswith("ibug")}
    assert config_for_scheme(cfg, only_mediapipe, "ibug68") is cfg  # a model without iBUG points: auto as before
