"""What a trained EmoFace run's two branches carry and drive (issue 16 item 4): emotion and region measures.

Two measures of :func:`emoface.eval.diagnose.diagnose`, each on clips of actors the run never
saw (a validation or test split):

**Emotion classification** (:func:`emotion_classification`). The paper trains the emotion
branch with ``L_cls``; the model's classifier head (``classifier``: a linear layer on the
time-mean of the emotion features ``F_e``, :meth:`EmoFace.encode_emotion`) is applied to each
held-out clip's audio, and its accuracy is the fraction of clips given their true emotion
(also per emotion, and on the training split for comparison). Disentanglement: the time-mean
content features ``F_c`` and emotion features ``F_e`` of every training clip are each given
to a linear probe, the standardised nearest-centroid classifier of
:mod:`emoface.eval.recognisability` (no hyper-parameters), fitted on the training split and
applied to the held-out split. The content branch should carry less emotion than the emotion
branch. Chance is ``1 / n_emotions``; the held-out split's majority-class share is given too.
The features are those the decoders see without the optional emotion-label embedding (the
paper conditions on audio alone).

**Region drive** (:func:`region_drive`). For each held-out clip (speaker condition 0, the
clip's intensity, decoded autoregressively as the evaluation does) the fused offsets ``dM``
are predicted from the clip's features, then again with one branch's features replaced:

- ``emotion_zero``: ``F_e = 0`` (the emotion decoder's memory and Mesh Attention's emotion input);
- ``emotion_swap``: ``F_e`` of another clip of the same actor, statement and repetition with a
  different emotion (the cross-reconstruction partner; any other clip of another emotion when
  there is none): what changing only the emotion of the voice does;
- ``content_zero``: ``F_c = 0``;
- ``content_swap``: ``F_c`` of a clip of the same emotion with another statement (any clip of
  another statement when there is none);
- ``start_template``: both features kept, decoding started from the template instead of the
  clip's ground-truth first frame (only for runs that start from the first frame, App. A.3):
  how much of each region's motion comes from the start frame (which already holds the
  clip's expression) rather than from the audio;
- ``history_zero``: both features kept, every decoder input (the start frame and each
  fed-back frame) replaced by zero offsets, one parallel pass: how much the motion history
  drives each region at all.

The drive of a variant over a region ``R`` is ``mean_{t, v in R} || dM_variant[t, v] - dM[t, v] ||``
in millimetres, averaged over the clips; beside it the size of the prediction itself
(``mean || dM ||``) and of the ground-truth offsets, and ``emotion_swap_truth``: how far the
ground truth itself moves between the clip and its same-words partner of another emotion
(the partner's offsets resampled linearly to the clip's frames): what an emotion swap should
change. From the unchanged pass, the fusion's own
split: ``weight`` = the mean Mesh Attention weight of the emotion branch over ``R`` (None for
``fusion: add``, whose weight is 1 for both), and ``emotion_share`` =
``mean || w dM_e || / (mean || w dM_e || + mean || (1 - w) dM_c ||)`` over ``R``. Regions: ``lips``,
``eye_region``, ``forehead`` (the split's stored regions, as LVE and EVE use them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from emoface.data.dataset import MeshSeqDataset, Sample
from emoface.eval.recognisability import NearestCentroid
from emoface.model.emoface import BranchInputs, EmoFace, Offsets
from emoface.train.step import resample_frames

__all__ = ["DIAGNOSE_REGIONS", "VARIANTS", "ClipFeatures", "Accuracy", "EmotionClassification", "RegionDrive",
           "encode_clips", "emotion_classification", "region_drive"]

DIAGNOSE_REGIONS: tuple[str, ...] = ("lips", "eye_region", "forehead")
VARIANTS: tuple[str, ...] = ("emotion_zero", "emotion_swap", "content_zero", "content_swap", "start_template",
                             "history_zero")


@dataclass(frozen=True)
class ClipFeatures:
    """One clip's time-mean branch features and the classifier head's verdict."""

    clip_id: str
    emotion: int  # true class
    content: np.ndarray  # (d,) time-mean F_c
    emotion_features: np.ndarray | None  # (d,) time-mean F_e (None: single branch)
    predicted: int | None  # argmax of the classifier head (None: single branch)


@dataclass(frozen=True)
class Accuracy:
    """Fraction of clips given their true emotion, overall and per true emotion."""

    accuracy: float
    n_clips: int
    per_emotion: dict[int, float]

    @classmethod
    def of(cls, truth: Sequence[int], predicted: Sequence[int]) -> Accuracy:
        t, p = np.asarray(truth), np.asarray(predicted)
        per = {int(e): float((p[t == e] == e).mean()) for e in np.unique(t)}
        return cls(float((t == p).mean()) if len(t) else float("nan"), int(len(t)), per)

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "n_clips": self.n_clips, "per_emotion": self.per_emotion}


@dataclass(frozen=True)
class EmotionClassification:
    """The emotion measures of one run (see the module docstring); None where the run has no emotion branch."""

    chance: float
    majority: float  # the held-out split's most frequent emotion's share
    head: dict[str, Accuracy]  # split -> the classifier head's accuracy
    probe_emotion: Accuracy | None  # nearest-centroid probe on F_e, fitted on train, on held-out
    probe_content: Accuracy  # the same on F_c
    probe_train: dict[str, float]  # the probes' accuracy on the training clips they were fitted on

    def to_dict(self) -> dict:
        return {"chance": self.chance, "majority": self.majority, "head": {k: v.to_dict() for k, v in self.head.items()},
                "probe_emotion": self.probe_emotion.to_dict() if self.probe_emotion else None,
                "probe_content": self.probe_content.to_dict(), "probe_train": self.probe_train}


@torch.no_grad()
def encode_clips(model: EmoFace, data: MeshSeqDataset, max_clips: int | None = None) -> list[ClipFeatures]:
    """Time-mean ``F_c`` and ``F_e`` (without the label embedding) and the head's class of each clip."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(min(len(data), max_clips or len(data))):
        s = data[i]
        audio = s.audio.to(dev).unsqueeze(0)
        content = model.encode_content(audio, s.n_frames)[0].mean(0)
        if model.emotion_encoder is None:
            out.append(ClipFeatures(s.clip_id, s.emotion, content.cpu().numpy(), None, None))
            continue
        feats, logits = model.encode_emotion(audio, s.n_frames)
        out.append(ClipFeatures(s.clip_id, s.emotion, content.cpu().numpy(), feats[0].mean(0).cpu().numpy(),
                                int(logits[0].argmax())))
    return out


def _probe(train: Sequence[np.ndarray], y: Sequence[int], test: Sequence[np.ndarray], y_test: Sequence[int]) -> tuple[Accuracy, float]:
    clf = NearestCentroid.fit(np.stack(train), np.asarray(y))
    held = Accuracy.of(y_test, [int(c) for c in clf.predict(np.stack(test))])
    return held, float((clf.predict(np.stack(train)) == np.asarray(y)).mean())


def emotion_classification(n_emotions: int, train: Sequence[ClipFeatures], held_out: dict[str, Sequence[ClipFeatures]],
                           probe_split: str) -> EmotionClassification:
    """Head accuracy on every split in ``held_out`` (and ``train``); probes fitted on ``train``, scored on ``held_out[probe_split]``."""
    if not train or not held_out.get(probe_split):
        raise ValueError("emotion_classification: no training clips or no held-out clips")
    test = held_out[probe_split]
    y, y_test = [c.emotion for c in train], [c.emotion for c in test]
    counts = np.bincount(y_test)
    two = train[0].predicted is not None
    head = {}
    if two:
        for name, clips in {"train": train, **held_out}.items():
            head[name] = Accuracy.of([c.emotion for c in clips], [c.predicted for c in clips])
    pc, pc_train = _probe([c.content for c in train], y, [c.content for c in test], y_test)
    pe, pe_train = (_probe([c.emotion_features for c in train], y, [c.emotion_features for c in test], y_test)
                    if two else (None, None))
    probe_train = {"content": pc_train} | ({"emotion": pe_train} if two else {})
    return EmotionClassification(1.0 / n_emotions, float(counts.max() / counts.sum()), head, pe, pc, probe_train)


@dataclass
class RegionDrive:
    """Region measures over the held-out clips (millimetres; see the module docstring)."""

    regions: dict[str, int]  # region -> vertex count
    drive: dict[str, dict[str, float]]  # variant -> region -> mean || dM_variant - dM || (mm)
    prediction: dict[str, float]  # region -> mean || dM || (mm)
    ground_truth: dict[str, float]  # region -> mean || GT offset || (mm)
    weight: dict[str, float] | None  # region -> mean emotion-branch weight (None: add fusion / single branch)
    emotion_share: dict[str, float] | None  # region -> the emotion branch's share of the fused motion
    emotion_swap_truth: dict[str, float] | None = None  # region -> mean || GT - GT_partner || (mm)
    n_clips: dict[str, int] = field(default_factory=dict)  # variant -> clips it was measured on

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _prepare(model: EmoFace, s: Sample, content: torch.Tensor, emotion: torch.Tensor | None) -> BranchInputs:
    """The decoders' inputs for clip ``s`` from the given features (speaker 0, the clip's intensity)."""
    dev = content.device
    spk = torch.nn.functional.one_hot(torch.tensor([0], device=dev), model.n_speakers).float()
    inten = torch.nn.functional.one_hot(torch.tensor([s.intensity], device=dev), model.cfg.n_intensities).float()
    return model.prepare(content, emotion, spk, inten, s.template.to(dev).unsqueeze(0))


def _decode(model: EmoFace, s: Sample, content: torch.Tensor, emotion: torch.Tensor | None, first_frame: bool) -> Offsets:
    """Autoregressive offsets ``(1, T, V, 3)`` of ``s`` from the given features (speaker 0, the clip's intensity)."""
    dev = content.device
    tpl = s.template.to(dev).unsqueeze(0)
    inputs = _prepare(model, s, content, emotion)
    start = (s.vertices[0].to(dev) - s.template.to(dev)).unsqueeze(0) if first_frame else torch.zeros_like(tpl)
    return model.decode_autoregressive(inputs, start, cached=True)


def _partner(samples: Sequence[Sample], i: int, same_words: bool) -> int | None:
    """A donor for clip ``i``: ``same_words`` -> same subject/statement/repetition, other emotion (else any other
    emotion); otherwise same emotion, other statement (else any other statement)."""
    s = samples[i]
    if same_words:
        tiers = [lambda o: o.subject == s.subject and o.statement == s.statement and o.repetition == s.repetition
                 and o.emotion != s.emotion, lambda o: o.emotion != s.emotion]
    else:
        tiers = [lambda o: o.emotion == s.emotion and o.statement != s.statement, lambda o: o.statement != s.statement]
    for ok in tiers:
        for j, o in enumerate(samples):
            if j != i and ok(o):
                return j
    return None


def _norm_mm(x: torch.Tensor, idx: torch.Tensor) -> float:
    """mean_{t, v in idx} ||x[0, t, v]|| in mm."""
    return float(1000.0 * x[0][:, idx].norm(dim=-1).mean())


@torch.no_grad()
def region_drive(model: EmoFace, data: MeshSeqDataset, regions: dict[str, np.ndarray], max_clips: int | None = None,
                 first_frame: bool | None = None) -> RegionDrive:
    """The region measures of ``model`` on up to ``max_clips`` clips of ``data`` (see the module docstring)."""
    model.eval()
    dev = next(model.parameters()).device
    if first_frame is None:
        first_frame = model.cfg.decoder.start_token == "first_frame"
    missing = [r for r in DIAGNOSE_REGIONS if r not in regions]
    if missing:
        raise ValueError(f"region drive: the data has no region(s) {missing} (has {sorted(regions)})")
    idx = {r: torch.as_tensor(np.asarray(regions[r], np.int64), device=dev) for r in DIAGNOSE_REGIONS}
    samples = [data[i] for i in range(min(len(data), max_clips or len(data)))]
    if not samples:
        raise ValueError("region drive: no clips")
    two = model.emotion_encoder is not None
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    pred, gt, weight, share, truth_swap = (defaultdict(list) for _ in range(5))
    feats = []
    for s in samples:
        audio = s.audio.to(dev).unsqueeze(0)
        c = model.encode_content(audio, s.n_frames)
        e = model.encode_emotion(audio, s.n_frames)[0] if two else None
        feats.append((c, e))
    for i, s in enumerate(samples):
        c, e = feats[i]
        base = _decode(model, s, c, e, first_frame)
        gt_off = (s.vertices - s.template).to(dev).unsqueeze(0)
        variants: dict[str, tuple[torch.Tensor, torch.Tensor | None] | None] = {}
        t = s.n_frames
        k_words = _partner(samples, i, same_words=True)
        k_emo = _partner(samples, i, same_words=False)
        if two:
            variants["emotion_zero"] = (c, torch.zeros_like(e))
            variants["emotion_swap"] = None if k_words is None else (
                c, model.encode_emotion(samples[k_words].audio.to(dev).unsqueeze(0), t)[0])
        if k_words is not None and samples[k_words].statement == s.statement and samples[k_words].subject == s.subject:
            other = resample_frames((samples[k_words].vertices - samples[k_words].template).unsqueeze(0), t).to(dev)
            for r, ix in idx.items():
                truth_swap[r].append(_norm_mm(gt_off - other, ix))
        variants["content_zero"] = (torch.zeros_like(c), e)
        variants["content_swap"] = None if k_emo is None else (
            model.encode_content(samples[k_emo].audio.to(dev).unsqueeze(0), t), e)
        if first_frame:
            variants["start_template"] = (c, e)
        variants["history_zero"] = (c, e)
        for name, fe in variants.items():
            if fe is None:
                continue
            if name == "history_zero":
                out = model.decode(_prepare(model, s, c, e), torch.zeros_like(gt_off))
            else:
                out = _decode(model, s, fe[0], fe[1], first_frame and name != "start_template")
            for r, ix in idx.items():
                sums[name][r].append(_norm_mm(out.fused - base.fused, ix))
        for r, ix in idx.items():
            pred[r].append(_norm_mm(base.fused, ix))
            gt[r].append(_norm_mm(gt_off, ix))
            if two:
                w = base.weight if base.weight is not None else None
                we = base.emotion if w is None else w * base.emotion
                wc = base.content if w is None else (1.0 - w) * base.content
                a, b = _norm_mm(we, ix), _norm_mm(wc, ix)
                share[r].append(a / (a + b) if a + b > 0 else float("nan"))
                if w is not None:
                    weight[r].append(float(w[0][:, ix].mean()))
    mean = lambda d: {k: float(np.mean(v)) for k, v in d.items()}  # noqa: E731
    return RegionDrive(
        regions={r: int(ix.numel()) for r, ix in idx.items()},
        drive={name: mean(per) for name, per in sums.items()},
        prediction=mean(pred), ground_truth=mean(gt),
        weight=mean(weight) if weight else None, emotion_share=mean(share) if share else None,
        emotion_swap_truth=mean(truth_swap) if truth_swap else None,
        n_clips={name: len(next(iter(per.values()))) for name, per in sums.items()},
    )

