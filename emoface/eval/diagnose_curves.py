"""Training curves of a run and its final losses on the training and validation pairs (issue 16 item 4).

**Curves** (:func:`read_curves`): the trainer writes every epoch's mean training terms
(``loss``, ``self``, ``cross`` = L_cross, ``velocity``, ``classification`` = L_cls, all
unweighted but ``loss``) and its validation LVE/EVE with their template floors to
``RUN/metrics.json`` (the same numbers go to the TensorBoard events). For each term: the
first and last epoch's value (a term that is 0 at every epoch, such as a single branch's L_cls,
is left out), the minimum and its epoch, ``ratio`` = last / first and
``decreased`` = the last value is at least 10 % below the first (``ratio < 0.9``). Beside
L_cls, ``chance_classification`` = ``ln(n_emotions)``, the cross-entropy of a uniform guess
(2.079 for 8 emotions): a classification loss that stays there has learnt nothing. The training terms are measured in training mode (dropout,
the self-growing schedule's mixed decoder inputs), so they are not comparable with the
validation numbers.

**Final losses** (:func:`final_losses`): the run's checkpoint (eval mode, no dropout, no
label embedding) on the cross-reconstruction pairs of the training split and of a held-out
split, teacher-forced (ground-truth decoder history, one parallel pass: what the losses
measure without the schedule), the same ``pair_losses`` as training; up to ``max_pairs``
pairs each, partners as in epoch 0 with seed 0. Held-out actors are conditioned as training
speaker 0 (as validation does). Train and held-out numbers are comparable with each other;
a held-out ``classification`` far above the training one is the emotion head over-fitting
the training actors.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from emoface.model.emoface import EmoFace
from emoface.train.config import LossConfig, ScheduleConfig
from emoface.train.losses import pair_losses
from emoface.train.pairs import PairDataset, collate_pairs
from emoface.train.step import PairModel, StepRandom
from emoface.train.validation import METRICS

__all__ = ["CurvesError", "TermCurve", "read_curves", "final_losses", "TRAIN_TERMS", "VAL_TERMS"]

TRAIN_TERMS: tuple[str, ...] = ("loss", "self", "cross", "velocity", "classification")
VAL_TERMS: tuple[str, ...] = METRICS  # the trainer's validation measures
DECREASE_RATIO = 0.9  # "decreased": the last epoch's value below 90 % of the first's


class CurvesError(ValueError):
    """``metrics.json`` is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class TermCurve:
    """One logged term over the epochs."""

    values: list[float]
    first: float
    last: float
    min: float
    min_epoch: int
    ratio: float  # last / first (nan when first is 0)
    decreased: bool  # last / first < DECREASE_RATIO

    @classmethod
    def of(cls, values: Sequence[float], epochs: Sequence[int]) -> TermCurve:
        v = [float(x) for x in values]
        k = int(np.nanargmin(v))
        first, last = v[0], v[-1]
        ratio = last / first if first else math.nan
        return cls(v, first, last, v[k], int(epochs[k]), ratio, bool(ratio < DECREASE_RATIO))

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def read_curves(run_dir: str | Path, n_emotions: int = 8) -> dict:
    """``{"epochs": n, "train": {term: TermCurve}, "val": {term: TermCurve}, "best": {...}, "chance_classification"}``
    from ``RUN/metrics.json``."""
    path = Path(run_dir) / "metrics.json"
    try:
        data = json.loads(path.read_text())
        epochs = list(data["epochs"])
    except FileNotFoundError:
        raise CurvesError(f"{path}: not found (the trainer writes it after the first epoch)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CurvesError(f"{path}: not a trainer's metrics.json ({exc.__class__.__name__}: {exc})") from None
    train: dict[str, TermCurve] = {}
    val: dict[str, TermCurve] = {}
    for term in TRAIN_TERMS:
        pts = [(e["epoch"], e["train"][term]) for e in epochs if term in e.get("train", {})]
        if pts and any(v != 0 for _, v in pts):  # a term that is 0 throughout was not trained (L_cls of a single branch)
            train[term] = TermCurve.of([v for _, v in pts], [k for k, _ in pts])
    for term in VAL_TERMS:
        pts = [(e["epoch"], e["val"][term]) for e in epochs
               if term in (e.get("val") or {}) and not math.isnan(float(e["val"][term]))]
        if pts:
            val[term] = TermCurve.of([v for _, v in pts], [k for k, _ in pts])
    return {"epochs": len(epochs), "train": train, "val": val, "best": data.get("best"),
            "chance_classification": math.log(n_emotions)}


@torch.no_grad()
def final_losses(model: EmoFace, split_path: str | Path, speakers: Sequence[str], loss: LossConfig,
                 max_pairs: int | None = 24) -> dict[str, float | int]:
    """Mean unweighted loss terms (and the head's accuracy on the pair clips) over up to ``max_pairs`` pairs of a split."""
    pairs = PairDataset(split_path, list(speakers), seed=0, cross=True)
    if not len(pairs):
        raise ValueError(f"{split_path}: no cross-reconstruction pairs (clips of one subject, statement and repetition "
                         "with different emotions)")
    pairs.set_epoch(0)
    pm = PairModel(model, ScheduleConfig(kind="teacher_forcing"), cross=True).eval()
    dev = next(model.parameters()).device
    sums: dict[str, list[float]] = defaultdict(list)
    for k in range(min(len(pairs), max_pairs or len(pairs))):
        a, b = pairs[k]
        if a.speaker < 0:  # a held-out actor: conditioned as training speaker 0
            a, b = replace(a, speaker=0), replace(b, speaker=0)
        batch = collate_pairs([(a, b)], model.cfg.fps, model.cfg.sample_rate).to(dev)
        rnd = StepRandom(torch.ones(1, batch.vertices1.shape[1]), torch.ones(1, batch.vertices2.shape[1]),
                         torch.zeros(1), torch.zeros(1))  # all ground truth; no emotion label
        out = pm(batch, 1.0, rnd)
        terms = pair_losses(out.self_target.final, out.gt_self, out.cross_target.final, out.gt_cross, out.logits,
                            out.labels, loss)
        for name, v in terms.terms.items():
            sums[name].append(float(v))
        if out.logits is not None:
            sums["head_accuracy"].append(float((out.logits.argmax(1) == out.labels).float().mean()))
    res: dict[str, float | int] = {name: float(np.mean(v)) for name, v in sums.items()}
    if model.emotion_encoder is None:
        res.pop("classification", None)
    res["n_pairs"] = len(sums["self"])
    return res
