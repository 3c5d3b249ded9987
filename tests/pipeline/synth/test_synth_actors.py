"""Actors: RAVDESS gender convention, determinism per seed, variety between actors; head motion and blinks."""

import numpy as np
import pytest

from pipeline.sources.synth.actors import make_actor
from pipeline.sources.synth.motion import blinks, head_motion


def test_odd_actors_are_male_voices_even_female():
    for a in range(1, 25):
        actor = make_actor(a, 0, 30)
        assert actor.gender == ("male" if a % 2 else "female")
        assert actor.voice.startswith("en-us+m" if a % 2 else "en-us+f")


def test_actors_are_deterministic_per_seed_and_differ():
    assert make_actor(5, 3, 30) == make_actor(5, 3, 30)
    assert make_actor(5, 3, 30) != make_actor(5, 4, 30)
    shapes = np.stack([make_actor(a, 0, 30).shape for a in range(1, 25)])
    assert np.linalg.matrix_rank(shapes) == 24
    assert len({make_actor(a, 0, 30).look for a in range(1, 25)}) > 12
    base = np.full(30, 0.5, np.float32)
    np.testing.assert_allclose(make_actor(1, 0, 30, base_shape=base).shape - make_actor(1, 0, 30).shape, base, atol=1e-6)
    with pytest.raises(ValueError):
        make_actor(25, 0, 30)


def test_head_motion_is_small_and_follows_posture():
    actor = make_actor(3, 0, 30)
    env = np.zeros(120)
    env[30:90] = 1.0
    rot, trans = head_motion(actor, "sad", 1.0, env, 30.0, np.random.default_rng(0))
    assert rot.shape == trans.shape == (120, 3)
    assert np.abs(rot - actor.rest_rotation).max() < 0.2  # radians: a few degrees
    assert np.abs(trans - actor.rest_translation).max() < 0.03  # metres
    neutral, _ = head_motion(actor, "neutral", 1.0, env, 30.0, np.random.default_rng(0))
    assert rot[60:, 0].mean() > neutral[60:, 0].mean()  # sad: head lowered (pitch)


def test_blinks_are_brief_closures():
    b = blinks(30 * 60, 30.0, 20.0, np.zeros(30 * 60, bool), np.random.default_rng(1))
    assert 0.0 <= b.min() and b.max() <= 1.0
    onsets = np.sum((b[1:] > 0.5) & (b[:-1] <= 0.5))
    assert 10 <= onsets <= 30  # ~20 per minute
    assert (b > 0.5).mean() < 0.1
