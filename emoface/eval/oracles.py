"""Reference predictors that bound what a method can gain on the upper face (``evaluate --oracles``).

The template-only floor says what no motion scores. These say what a face that knows more,
without listening to the audio, scores, so that a model's EVE can be read against them:

- :class:`FirstFrameHeld`: the clip's first ground-truth frame held still. For runs that decode
  from that frame (``model.decoder.start_token: first_frame``, App. A.3, the default; not under
  ``evaluate --no-first-frame``) it uses nothing the model is not given, and it already shows the
  clip's held expression: such a model whose upper face does not beat it gains nothing from the
  audio there.
- :class:`EmotionMean` (an oracle): the template plus the training split's mean offset for the
  clip's **true** emotion and intensity. What a perfect emotion recogniser that then shows the
  emotion's average face would score; no dynamics.
- :class:`ClipMean` (an oracle): every frame the clip's own mean frame, the least-squares still
  face of each vertex for that clip. What remains of its error is the motion around the held
  expression: a predictor of the held expression alone, however good, does about this well
  at best (EVE takes the worst vertex per frame, so a still face can beat the mean frame
  there by a little, never by the motion).

None of them is conditioned on a speaker; all read only the split (and, for the emotion mean,
the training split), so they cost a pass over the data and no model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.data.schema import ClipRecord, SplitReader

__all__ = ["FirstFrameHeld", "EmotionMean", "ClipMean", "oracle_methods"]


@dataclass
class FirstFrameHeld:
    """The clip's first frame, held for every frame (the start token the models decode from)."""

    name: str = "first frame held"
    description: str = "the clip's first ground-truth frame held still (the start frame of first-frame decoding), no audio"
    conditioned: bool = False

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray:
        return np.broadcast_to(np.asarray(record.vertices[0], np.float32), record.vertices.shape)


@dataclass
class ClipMean:
    """Oracle: the clip's own mean frame, held for every frame."""

    name: str = "clip mean (oracle)"
    description: str = "oracle: the clip's own mean frame held still (the least-squares still face); no dynamics"
    conditioned: bool = False

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray:
        mean = np.asarray(record.vertices, np.float64).mean(axis=0).astype(np.float32)
        return np.broadcast_to(mean, record.vertices.shape)


@dataclass
class EmotionMean:
    """Oracle: the template plus the training clips' mean offset of the clip's true emotion and intensity.

    ``offsets[(emotion, intensity)]`` is a ``(V, 3)`` frame-weighted mean of ``vertices - template``
    over the training clips of that class; a class the training split lacks falls back to the
    emotion's mean over its intensities, then to no offset. ``labels`` (clip id -> emotion), when
    given, replaces the true labels: the called emotion's mean over all its intensities (the
    classifier calls no intensity, and the clip's true one must not leak in), the face driven by a
    classifier (:meth:`with_labels`; e.g. ``bench.bench_eve_bound``'s classifier of the voice).
    """

    offsets: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    labels: dict[str, int] | None = None
    name: str = "emotion mean (oracle)"
    description: str = "oracle: template + the training split's mean offset of the clip's true emotion and intensity"
    conditioned: bool = False

    @classmethod
    def from_split(cls, path: str | Path) -> EmotionMean:
        """Class means of the offsets of every clip of the split at ``path`` (one pass, one clip in memory)."""
        sums: dict[tuple[int, int], np.ndarray] = {}
        frames: dict[tuple[int, int], int] = {}
        with SplitReader(path) as reader:
            for cid in reader.clip_ids:
                rec = reader.read_clip(cid, params=False)
                key = (int(rec.emotion), int(rec.intensity))
                off = (np.asarray(rec.vertices, np.float64) - np.asarray(reader.template(rec.subject), np.float64)).sum(axis=0)
                sums[key] = sums.get(key, 0.0) + off
                frames[key] = frames.get(key, 0) + rec.n_frames
        if not sums:
            raise ValueError(f"{path}: no clips to take the emotion means from")
        offsets = {k: (sums[k] / frames[k]).astype(np.float32) for k in sums}
        for e in {k[0] for k in sums}:  # the emotion over its intensities, for a missing intensity
            keys = [k for k in sums if k[0] == e]
            offsets[(e, -1)] = (sum(sums[k] for k in keys) / sum(frames[k] for k in keys)).astype(np.float32)
        return cls(offsets)

    def with_labels(self, labels: dict[str, int], name: str, description: str) -> EmotionMean:
        """The same class means, driven by ``labels`` (clip id -> emotion) instead of the true emotions."""
        return EmotionMean(self.offsets, dict(labels), name, description)

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray:
        e, i = int(record.emotion), int(record.intensity)
        if self.labels is not None:  # never a true label: the call's emotion, over all its intensities
            if record.clip_id not in self.labels:
                raise ValueError(f"{self.name}: no emotion call for clip {record.clip_id}")
            e, i = int(self.labels[record.clip_id]), -1
        off = self.offsets.get((e, i), self.offsets.get((e, -1)))
        face = np.asarray(template, np.float32) + (off if off is not None else 0.0)
        return np.broadcast_to(face, record.vertices.shape)


def oracle_methods(train_split: str | Path | None) -> list:
    """The reference predictors of ``evaluate --oracles``: the emotion mean needs a training split (skipped without one)."""
    methods: list = [FirstFrameHeld()]
    if train_split is not None and Path(train_split).is_file():
        methods.append(EmotionMean.from_split(train_split))
    methods.append(ClipMean())
    return methods
