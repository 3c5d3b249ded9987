"""Cross-reconstruction pairs (paper §3.3.2) over a split file.

A pair is (anchor, partner): same subject, statement and repetition, different emotion
(optionally the same intensity). Each epoch every anchor that has at least one partner is
used once, with a partner drawn from ``numpy.random.default_rng((seed, epoch, anchor))`` -
deterministic, independent of the worker process and of where a resumed run restarts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from emoface.data.dataset import MeshSeqDataset, Sample

__all__ = ["PairDataset", "PairBatch", "collate_pairs", "find_partners"]


def find_partners(metas: Sequence, match_intensity: bool = False) -> list[list[int]]:
    """For each clip (attributes ``subject, statement, repetition, emotion, intensity``), its partner indices."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, m in enumerate(metas):
        groups[(m.subject, m.statement, m.repetition)].append(i)
    out = []
    for i, m in enumerate(metas):
        cands = [j for j in groups[(m.subject, m.statement, m.repetition)]
                 if metas[j].emotion != m.emotion and (not match_intensity or metas[j].intensity == m.intensity)]
        out.append(cands)
    return out


class PairDataset(Dataset):
    """Items are ``(anchor Sample, partner Sample)``; call :meth:`set_epoch` before each epoch.

    With ``cross=False`` (data without cross-reconstruction pairs, e.g. VOCASET) every clip is
    an anchor and its own partner: the trainer then uses only the self-reconstruction terms.
    """

    def __init__(self, path: str | os.PathLike, speakers: Sequence[str] | None = None, seed: int = 0,
                 match_intensity: bool = False, cross: bool = True):
        self.clips = MeshSeqDataset(path, speakers)
        self.speakers = self.clips.speakers
        self.cross = cross
        if cross:
            metas = [self.clips.meta(i) for i in range(len(self.clips))]
            self.partners = find_partners(metas, match_intensity)
        else:
            self.partners = [[i] for i in range(len(self.clips))]
        self.anchors = [i for i, p in enumerate(self.partners) if p]
        self.unpaired = [self.clips.clip_ids[i] for i, p in enumerate(self.partners) if not p]
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.anchors)

    def partner_of(self, k: int, epoch: int | None = None) -> int:
        i = self.anchors[k]
        rng = np.random.default_rng((self.seed, self.epoch if epoch is None else epoch, i))
        return int(rng.choice(self.partners[i]))

    def __getitem__(self, k: int) -> tuple[Sample, Sample]:
        anchor = self.clips[self.anchors[k]]
        return anchor, (self.clips[self.partner_of(k)] if self.cross else anchor)


@dataclass
class PairBatch:
    """A batch of pairs; side 1 is the anchor (c1, e1), side 2 the partner (c1, e2).

    ``audio* (B, N)`` 16 kHz, ``vertices* (B, T, V, 3)`` metres, ``template (B, V, 3)``,
    ``speaker (B,)`` (index into the training speakers), ``emotion*, intensity* (B,)``.
    """

    clip_ids1: list[str]
    clip_ids2: list[str]
    audio1: torch.Tensor
    audio2: torch.Tensor
    vertices1: torch.Tensor
    vertices2: torch.Tensor
    template: torch.Tensor
    speaker: torch.Tensor
    emotion1: torch.Tensor
    emotion2: torch.Tensor
    intensity1: torch.Tensor
    intensity2: torch.Tensor

    def to(self, device: torch.device) -> PairBatch:
        kw = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return PairBatch(**kw)

    def names(self) -> str:
        return ", ".join(f"{a}+{b}" for a, b in zip(self.clip_ids1, self.clip_ids2))


def _stack_side(samples: Sequence[Sample], fps: float, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack one side, cropping every clip to the shortest (frames, and the matching audio)."""
    if len(samples) == 1:
        return samples[0].audio.unsqueeze(0), samples[0].vertices.unsqueeze(0)
    t = min(s.n_frames for s in samples)
    n = min(min(s.audio.shape[0] for s in samples), int(round(t * sample_rate / fps)))
    return torch.stack([s.audio[:n] for s in samples]), torch.stack([s.vertices[:t] for s in samples])


def collate_pairs(items: Sequence[tuple[Sample, Sample]], fps: float = 30.0, sample_rate: int = 16000) -> PairBatch:
    """Batch pairs (batch size > 1 crops each side to its shortest clip)."""
    a = [p[0] for p in items]
    b = [p[1] for p in items]
    if any(s.speaker < 0 for s in a):
        raise ValueError(f"subject {next(s.subject for s in a if s.speaker < 0)} is not a training speaker")
    audio1, verts1 = _stack_side(a, fps, sample_rate)
    audio2, verts2 = _stack_side(b, fps, sample_rate)

    def ints(xs):
        return torch.tensor(xs, dtype=torch.long)

    return PairBatch(
        clip_ids1=[s.clip_id for s in a], clip_ids2=[s.clip_id for s in b],
        audio1=audio1, audio2=audio2, vertices1=verts1, vertices2=verts2,
        template=torch.stack([s.template for s in a]),
        speaker=ints([s.speaker for s in a]),
        emotion1=ints([s.emotion for s in a]), emotion2=ints([s.emotion for s in b]),
        intensity1=ints([s.intensity for s in a]), intensity2=ints([s.intensity for s in b]),
    )
