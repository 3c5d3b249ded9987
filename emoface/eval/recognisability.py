"""Emotion recognisability: can a simple classifier tell a clip's emotion from its held expression?

Feature of a clip (:func:`clip_feature`): its clip-mean offset from the actor's template over
the expression vertices (``lips`` union ``eye_region`` union ``forehead``, sorted), flattened
to ``(3 R,)`` metres::

    x = vec( mean_t (vertices[t, v] - template[v]) for v in R )

Classifier (:class:`NearestCentroid`): standardised nearest centroid. Fitted on training
clips ``X (N, D)``, labels ``y (N,)``: each feature is z-scored with the training clips' mean
and (population) standard deviation (a feature constant over the training clips keeps scale
1), each class's centroid is the mean of its standardised training features, and a clip is
given the class of the nearest centroid (Euclidean; ties go to the first class in sorted
label order). It is fitted on one set of clips and applied to any other (e.g. trained on
true meshes and applied to generated motion).

Recognisability (:func:`recognisability`): leave one group (actor) out: for every group,
the classifier is fitted on all other groups' clips and predicts that group's clips; the
accuracy is the fraction of clips predicted correctly (clip-weighted), also per true class.
Two feature sets scored with the same ``y`` and ``groups`` use the same folds.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .offsets import mean_offset

__all__ = ["EXPRESSION_REGIONS", "feature_indices", "clip_feature", "NearestCentroid", "leave_one_group_out",
           "Recognisability", "score", "recognisability"]

EXPRESSION_REGIONS: tuple[str, ...] = ("lips", "eye_region", "forehead")


def feature_indices(regions: Mapping[str, Sequence[int] | np.ndarray], names: Sequence[str] = EXPRESSION_REGIONS) -> np.ndarray:
    """Sorted union of the named regions' vertex indices; ``KeyError`` naming a missing region."""
    missing = [n for n in names if n not in regions]
    if missing:
        raise KeyError(f"model has no region(s) {missing} (has {sorted(regions)})")
    return np.unique(np.concatenate([np.asarray(regions[n], np.int64).reshape(-1) for n in names]))


def clip_feature(vertices: np.ndarray, template: np.ndarray, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """A clip's feature: its clip-mean offset over ``indices`` flattened, ``(3 R,)`` metres.

    ``vertices (T, V, 3)``, ``template (V, 3)`` metres.
    """
    return mean_offset(vertices, template, indices).reshape(-1)


@dataclass(frozen=True)
class NearestCentroid:
    """A fitted standardised nearest-centroid classifier (see the module docstring)."""

    classes: tuple[Hashable, ...]  # sorted labels
    mean: np.ndarray  # (D,) training feature mean
    scale: np.ndarray  # (D,) training feature std (1 where it is 0)
    centroids: np.ndarray  # (C, D) standardised class means

    @classmethod
    def fit(cls, X: np.ndarray, y: Sequence[Hashable] | np.ndarray) -> NearestCentroid:
        """Fit on ``X (N, D)`` with labels ``y (N,)``."""
        X = np.asarray(X, np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) == 0 or len(X) != len(y):
            raise ValueError(f"NearestCentroid.fit: X must be (N, D) with N = len(y) > 0, got {X.shape} and {len(y)} labels")
        if not np.isfinite(X).all():
            raise ValueError("NearestCentroid.fit: features are not finite")
        mean = X.mean(0)
        std = X.std(0)
        scale = np.where(std > 0, std, 1.0)
        Z = (X - mean) / scale
        classes = tuple(sorted(set(y.tolist())))
        cent = np.stack([Z[y == c].mean(0) for c in classes])
        return cls(classes, mean, scale, cent)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised features ``(N, D)``."""
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"NearestCentroid: expected (N, {self.mean.shape[0]}) features, got {X.shape}")
        return (X - self.mean) / self.scale

    def distances(self, X: np.ndarray) -> np.ndarray:
        """Euclidean distances ``(N, C)`` of standardised ``X`` to the class centroids."""
        Z = self.transform(X)
        return np.linalg.norm(Z[:, None, :] - self.centroids[None], axis=-1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels ``(N,)`` of ``X (N, D)``."""
        d = self.distances(X)
        return np.asarray(self.classes, dtype=object)[np.argmin(d, axis=1)] if len(d) else np.asarray([], dtype=object)


def leave_one_group_out(X: np.ndarray, y: Sequence[Hashable] | np.ndarray, groups: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    """Predictions ``(N,)`` of each clip by a :class:`NearestCentroid` fitted on the other groups' clips.

    Needs at least two groups (a fold's training set must not be empty).
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y)
    g = np.asarray(groups)
    if not (len(X) == len(y) == len(g)):
        raise ValueError(f"leave_one_group_out: {len(X)} features, {len(y)} labels, {len(g)} groups")
    uniq = sorted(set(g.tolist()))
    if len(uniq) < 2:
        raise ValueError(f"leave_one_group_out: needs at least 2 groups, got {len(uniq)}")
    pred = np.empty(len(y), dtype=object)
    for grp in uniq:
        test = g == grp
        pred[test] = NearestCentroid.fit(X[~test], y[~test]).predict(X[test])
    return pred


@dataclass(frozen=True)
class Recognisability:
    """Accuracy of predicted labels against the true ones, overall and per true class."""

    accuracy: float
    n_clips: int
    chance: float  # 1 / number of classes among the true labels
    per_class: dict[str, float]  # {str(label): accuracy over the clips of that class}
    per_class_n: dict[str, int]
    n_groups: int | None = None

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "n_clips": self.n_clips, "chance": self.chance, "n_groups": self.n_groups,
                "per_class": dict(self.per_class), "per_class_n": dict(self.per_class_n)}


def score(y_true: Sequence[Hashable] | np.ndarray, y_pred: Sequence[Hashable] | np.ndarray,
          n_groups: int | None = None) -> Recognisability:
    """:class:`Recognisability` of ``y_pred`` against ``y_true`` (both ``(N,)``, N > 0)."""
    yt = np.asarray(y_true, dtype=object)
    yp = np.asarray(y_pred, dtype=object)
    if len(yt) == 0 or len(yt) != len(yp):
        raise ValueError(f"score: {len(yt)} true and {len(yp)} predicted labels")
    ok = yt == yp
    classes = sorted(set(yt.tolist()))
    return Recognisability(
        accuracy=float(ok.mean()), n_clips=int(len(yt)), chance=1.0 / len(classes),
        per_class={str(c): float(ok[yt == c].mean()) for c in classes},
        per_class_n={str(c): int((yt == c).sum()) for c in classes}, n_groups=n_groups)


def recognisability(X: np.ndarray, y: Sequence[Hashable] | np.ndarray, groups: Sequence[Hashable] | np.ndarray) -> Recognisability:
    """Leave-one-group-out :class:`Recognisability` of features ``X (N, D)`` with labels ``y`` and groups."""
    pred = leave_one_group_out(X, y, groups)
    return score(y, pred, n_groups=len(set(np.asarray(groups).tolist())))
