"""The reference predictors of ``evaluate --oracles`` (issue 16: what the upper face can gain, bounded)."""

from __future__ import annotations

import numpy as np
import pytest

from emoface.data.schema import SplitReader
from emoface.eval.methods import TemplateFloor, evaluate_methods
from emoface.eval.oracles import ClipMean, EmotionMean, FirstFrameHeld, oracle_methods
from tools.testing.fixtures import write_synthetic_splits


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracles")
    return write_synthetic_splits(root, train_actors=(1, 2, 3), val_actors=(4,), test_actors=(5,), emotions=(0, 2, 4),
                                  statements=(1, 2), base_frames=12)


def test_emotion_mean_is_the_training_class_mean_by_hand(splits):
    oracle = EmotionMean.from_split(splits["train"])
    with SplitReader(splits["train"]) as r:
        recs = [r.read_clip(c, params=False) for c in r.clip_ids]
        key = (recs[0].emotion, recs[0].intensity)
        offs = [rec.vertices.astype(np.float64) - r.template(rec.subject) for rec in recs if (rec.emotion, rec.intensity) == key]
    expected = np.concatenate(offs).mean(axis=0)  # frame-weighted: every frame of every clip of the class
    np.testing.assert_allclose(oracle.offsets[key], expected, atol=1e-7)
    assert {k[0] for k in oracle.offsets} == {0, 2, 4}
    # a missing intensity falls back to the emotion's mean; an unknown emotion to no offset
    rec = recs[0]
    rec.intensity, tpl = 7, np.zeros_like(rec.vertices[0])
    np.testing.assert_allclose(oracle.predict(rec, tpl, None)[0], oracle.offsets[(rec.emotion, -1)])
    rec.emotion = 6
    np.testing.assert_array_equal(oracle.predict(rec, tpl, None), 0.0)


def test_still_faces_and_their_order_on_the_upper_face(splits):
    methods = [TemplateFloor(), *oracle_methods(splits["train"])]
    assert [m.name for m in methods] == ["template only", "first frame held", "emotion mean (oracle)", "clip mean (oracle)"]
    with SplitReader(splits["test"]) as r:
        rec = r.read_clip(r.clip_ids[0], params=False)
        tpl = r.template(rec.subject)
    held, mean = FirstFrameHeld().predict(rec, tpl, None), ClipMean().predict(rec, tpl, None)
    assert held.shape == mean.shape == rec.vertices.shape
    np.testing.assert_array_equal(held[-1], rec.vertices[0])
    np.testing.assert_allclose(mean[3], rec.vertices.mean(axis=0), atol=1e-7)
    res = evaluate_methods(splits["test"], methods, ["s0"])
    eve = {m.name: sum(c.eve_sum for c in m.clips) / sum(c.n_frames for c in m.clips) for m in res.methods}
    # the clip's own mean frame is the least-squares still face of each vertex; on the fixture it beats the other still faces
    assert eve["clip mean (oracle)"] < min(eve["template only"], eve["first frame held"], eve["emotion mean (oracle)"])
    assert eve["emotion mean (oracle)"] < eve["template only"]  # the fixture's emotions move the face


def test_without_a_training_split_the_emotion_oracle_is_left_out(tmp_path):
    assert [m.name for m in oracle_methods(tmp_path / "train.h5")] == ["first frame held", "clip mean (oracle)"]
    assert [m.name for m in oracle_methods(None)] == ["first frame held", "clip mean (oracle)"]
