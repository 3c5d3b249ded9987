"""The standardised nearest-centroid classifier and leave-one-group-out recognisability, hand-computed."""

import numpy as np
import pytest

from emoface.eval.recognisability import (NearestCentroid, clip_feature, feature_indices, leave_one_group_out,
                                          recognisability, score)


def test_standardisation_decides_the_class():
    # feature 2 is 100x larger: raw nearest centroid would say "A", the z-scored one says "B"
    X = np.array([[0.0, 0.0], [0.0, 2.0], [1.0, 100.0], [1.0, 102.0]])
    clf = NearestCentroid.fit(X, ["A", "A", "B", "B"])
    assert clf.classes == ("A", "B")
    np.testing.assert_allclose(clf.mean, [0.5, 51.0])
    np.testing.assert_allclose(clf.scale, [0.5, np.sqrt(2501.0)])
    np.testing.assert_allclose(clf.centroids, [[-1.0, -50.0 / np.sqrt(2501)], [1.0, 50.0 / np.sqrt(2501)]])
    x = np.array([[1.0, 40.0]])
    raw = np.linalg.norm(x - np.array([[0.0, 1.0], [1.0, 101.0]]), axis=1)
    assert np.argmin(raw) == 0  # unstandardised: A
    assert clf.predict(x).tolist() == ["B"]


def test_constant_feature_keeps_scale_one():
    clf = NearestCentroid.fit(np.array([[1.0, 0.0], [1.0, 2.0]]), [0, 1])
    np.testing.assert_allclose(clf.scale, [1.0, 1.0])
    assert clf.predict(np.array([[5.0, 1.9], [-3.0, 0.2]])).tolist() == [1, 0]


def test_trained_on_one_set_applied_to_another():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 5.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    y = np.repeat([0, 1, 2], 10)
    train = centres[y] + rng.normal(size=(30, 3)) * 0.3
    other = centres[y] + rng.normal(size=(30, 3)) * 0.3
    clf = NearestCentroid.fit(train, y)
    assert score(y, clf.predict(other)).accuracy == 1.0


def test_leave_one_actor_out_hand_computed():
    # 1-D, classes A/B, three actors; actor 3 carries a +20 identity offset
    X = np.array([[0.0], [10.0], [1.0], [11.0], [20.0], [30.0]])
    y = np.array(["A", "B", "A", "B", "A", "B"])
    groups = [1, 1, 2, 2, 3, 3]
    # fold 1 (train 2,3): centroids A 10.5, B 20.5 -> 0:A, 10:A; fold 2 (train 1,3): A 10, B 20 -> 1:A, 11:A;
    # fold 3 (train 1,2): A 0.5, B 10.5 -> 20:B, 30:B
    assert leave_one_group_out(X, y, groups).tolist() == ["A", "A", "A", "A", "B", "B"]
    r = recognisability(X, y, groups)
    assert r.accuracy == pytest.approx(0.5)
    assert r.per_class == pytest.approx({"A": 2 / 3, "B": 1 / 3})
    assert r.per_class_n == {"A": 3, "B": 3} and r.chance == 0.5 and r.n_groups == 3


def test_separable_toy_data_all_correct():
    rng = np.random.default_rng(1)
    y = np.tile(np.arange(8), 4)
    groups = np.repeat(np.arange(4), 8)
    X = np.eye(8)[y] * 3 + rng.normal(size=(32, 8)) * 0.1
    r = recognisability(X, y, groups)
    assert r.accuracy == 1.0 and r.chance == 0.125 and set(r.per_class) == {str(k) for k in range(8)}


def test_one_group_is_refused():
    with pytest.raises(ValueError, match="2 groups"):
        leave_one_group_out(np.zeros((2, 1)), [0, 1], [1, 1])


def test_feature_is_the_clip_mean_offset_of_the_regions():
    regions = {"lips": np.array([2, 0]), "eye_region": np.array([1]), "forehead": np.array([1]), "nose": np.array([3])}
    idx = feature_indices(regions)
    assert idx.tolist() == [0, 1, 2]
    template = np.zeros((4, 3))
    v = np.zeros((2, 4, 3))
    v[0, 0] = [1, 2, 3]
    v[1, 0] = [3, 2, 1]
    v[:, 3] = 9.0
    np.testing.assert_allclose(clip_feature(v, template, idx), [2, 2, 2, 0, 0, 0, 0, 0, 0])
    with pytest.raises(KeyError, match="forehead"):
        feature_indices({"lips": [0], "eye_region": [1]})
