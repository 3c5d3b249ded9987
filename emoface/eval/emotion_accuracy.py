"""Emotion accuracy of generated motion: does a method's output carry the clip's emotion?

The probe is the standardised nearest-centroid classifier of
:mod:`emoface.eval.recognisability` (issue 15), reused as it is:

- feature of a clip: its clip-mean offset from the subject's template over the expression
  vertices (``lips`` union ``eye_region`` union ``forehead``), flattened
  (:func:`~emoface.eval.recognisability.clip_feature`);
- fitted once on every clip of the **training split** (``train.h5``): offsets = the clip's
  vertices minus its subject's template stored in that split, labels = the clip's emotion
  (the 8 RAVDESS classes);
- applied to each method's prediction of each test clip under each speaker condition:
  offsets = prediction minus the test subject's template.

Emotion accuracy of a method = the fraction of test clips whose predicted motion is given
the clip's true emotion, per speaker condition, then mean (and spread) over the conditions
like the other columns. Beside it:

- **ceiling**: the same classifier on the test split's own meshes (what perfect motion would
  score; below 1 when the data's emotions are not separable by this probe);
- **template floor**: the template-only method has zero offsets, so every clip gets the
  same class and its accuracy is that class's share of the test clips;
- **chance**: 1 / the number of classes the classifier knows (0.125 with all 8).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emoface.eval.recognisability import EXPRESSION_REGIONS, NearestCentroid, clip_feature, feature_indices

__all__ = ["EmotionProbe", "EmotionCall", "EmotionProbeError", "TooFewEmotionsError", "accuracy_summary"]


class EmotionProbeError(ValueError):
    """The training split cannot give an emotion classifier; the message names the file."""


class TooFewEmotionsError(EmotionProbeError):
    """The training split has clips of fewer than 2 emotions (e.g. a VOCASET import): no classifier."""


@dataclass(frozen=True)
class EmotionCall:
    """The probe's verdict on one prediction: a clip under one speaker condition."""

    clip_id: str
    condition: str
    emotion: int  # the clip's true class (0-based)
    predicted: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EmotionProbe:
    """The nearest-centroid classifier fitted on a training split, with the vertices it reads."""

    classifier: NearestCentroid
    indices: np.ndarray  # (R,) expression vertices
    train_path: Path
    n_train_clips: int
    n_train_subjects: int
    topology_sha256: str = ""

    @classmethod
    def fit_split(cls, train_path: str | Path) -> EmotionProbe:
        """Fit on every clip of ``train_path`` (offsets from that split's subject templates)."""
        from emoface.data.schema import SchemaError, SplitReader

        path = Path(train_path)
        try:
            with SplitReader(path) as r:
                try:
                    idx = feature_indices(r.regions, EXPRESSION_REGIONS)
                except KeyError as exc:
                    raise EmotionProbeError(f"{path}: {exc.args[0]}") from None
                templates = {s: r.template(s) for s in r.subjects}
                X, y, subjects = [], [], set()
                for cid in r.clip_ids:
                    meta = r.clip_meta(cid)
                    if meta.subject not in templates:
                        raise EmotionProbeError(f"{path}: clip {cid} has subject {meta.subject!r} without a template")
                    X.append(clip_feature(r.read_vertices(cid), templates[meta.subject], idx))
                    y.append(int(meta.emotion))
                    subjects.add(meta.subject)
                sha = str(r.attrs.get("topology_sha256", ""))
        except SchemaError as exc:
            raise EmotionProbeError(str(exc)) from exc
        if len(set(y)) < 2:
            raise TooFewEmotionsError(f"{path}: the emotion classifier needs clips of at least 2 emotions, found {sorted(set(y))}")
        return cls(NearestCentroid.fit(np.stack(X), np.asarray(y)), idx, path, len(y), len(subjects), sha)

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.classifier.classes)

    @property
    def chance(self) -> float:
        return 1.0 / len(self.classifier.classes)

    def check_compatible(self, split_path: str | Path, n_vertices: int, topology_sha256: str = "") -> None:
        """``ValueError`` when ``split_path``'s topology is not the training split's."""
        if int(self.indices.max()) >= n_vertices or (self.topology_sha256 and topology_sha256 and self.topology_sha256 != topology_sha256):
            raise EmotionProbeError(f"{split_path}: its topology differs from the emotion classifier's training split {self.train_path}")

    def predict(self, vertices: np.ndarray, template: np.ndarray) -> int:
        """The class of one clip ``vertices (T, V, 3)`` with its ``template (V, 3)``, metres."""
        return int(self.classifier.predict(clip_feature(vertices, template, self.indices)[None])[0])

    def describe(self) -> dict:
        return {"train_split": str(self.train_path), "n_train_clips": self.n_train_clips,
                "n_train_subjects": self.n_train_subjects, "classes": list(self.classes), "chance": self.chance,
                "regions": list(EXPRESSION_REGIONS), "n_vertices": int(self.indices.size)}


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


def accuracy_summary(calls: Iterable[EmotionCall]) -> dict | None:
    """Accuracy per condition, its mean/std/min/max over conditions, and per true emotion (pooled); None without calls."""
    by_cond: dict[str, list[EmotionCall]] = defaultdict(list)
    by_emo: dict[int, list[bool]] = defaultdict(list)
    for c in calls:
        by_cond[c.condition].append(c)
        by_emo[c.emotion].append(c.emotion == c.predicted)
    if not by_cond:
        return None
    per = {k: float(np.mean([c.emotion == c.predicted for c in v])) for k, v in sorted(by_cond.items())}
    return {"accuracy": _stats(list(per.values())), "per_condition": per, "n_conditions": len(per),
            "n_clips": len(next(iter(by_cond.values()))),
            "per_emotion": {int(e): float(np.mean(v)) for e, v in sorted(by_emo.items())}}
