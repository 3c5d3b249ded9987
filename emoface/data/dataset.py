"""Torch datasets over the HDF5 split format.

The file is opened lazily in each worker process (``SplitReader`` reopens after a fork), so a
``DataLoader`` with workers never shares an HDF5 handle and no split is loaded into memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from emoface.data.schema import ClipMeta, SplitReader

__all__ = ["Sample", "MeshSeqDataset"]


@dataclass
class Sample:
    """One clip as tensors.

    - ``audio``: (N,) float32, 16 kHz mono
    - ``vertices``: (T, V, 3) float32 metres
    - ``template``: (V, 3) float32 metres (the subject's neutral face)
    - ``speaker``: index into the dataset's ``speakers`` list, -1 when the subject is not in it
    - ``emotion``: 0-based class; ``intensity``: 0 normal, 1 strong
    """

    clip_id: str
    subject: str
    speaker: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    audio: torch.Tensor
    vertices: torch.Tensor
    template: torch.Tensor

    @property
    def n_frames(self) -> int:
        return int(self.vertices.shape[0])


class MeshSeqDataset(Dataset):
    """Clips of one split file.

    Args:
        path: the split's ``.h5`` file.
        speakers: the conditioning speakers (usually the training split's subjects, sorted);
            defaults to this file's own subjects.
        clip_ids: restrict to these clips (default: all, sorted).
    """

    def __init__(self, path: str | os.PathLike, speakers: Sequence[str] | None = None, clip_ids: Sequence[str] | None = None):
        self.reader = SplitReader(path)
        self.path = self.reader.path
        self.speakers = list(speakers) if speakers is not None else list(self.reader.subjects)
        self._speaker_index = {s: i for i, s in enumerate(self.speakers)}
        if clip_ids is None:
            self.clip_ids = list(self.reader.clip_ids)
        else:
            unknown = sorted(set(clip_ids) - set(self.reader.clip_ids))
            if unknown:
                raise KeyError(f"{self.path}: unknown clip id(s) {', '.join(unknown[:5])}")
            self.clip_ids = list(clip_ids)
        self._meta: dict[str, ClipMeta] = {}
        self._templates: dict[str, torch.Tensor] = {}

    @property
    def faces(self):
        return self.reader.faces

    @property
    def regions(self):
        return self.reader.regions

    def meta(self, index_or_id: int | str) -> ClipMeta:
        """Clip attributes without reading arrays (cached)."""
        cid = self.clip_ids[index_or_id] if isinstance(index_or_id, int) else index_or_id
        if cid not in self._meta:
            self._meta[cid] = self.reader.clip_meta(cid)
        return self._meta[cid]

    def template(self, subject: str) -> torch.Tensor:
        if subject not in self._templates:
            self._templates[subject] = torch.from_numpy(self.reader.template(subject))
        return self._templates[subject]

    def speaker_index(self, subject: str) -> int:
        return self._speaker_index.get(subject, -1)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __getitem__(self, index: int) -> Sample:
        cid = self.clip_ids[index]
        rec = self.reader.read_clip(cid, params=False)
        return Sample(
            clip_id=cid,
            subject=rec.subject,
            speaker=self.speaker_index(rec.subject),
            emotion=rec.emotion,
            intensity=rec.intensity,
            statement=rec.statement,
            repetition=rec.repetition,
            audio=torch.from_numpy(rec.audio),
            vertices=torch.from_numpy(rec.vertices),
            template=self.template(rec.subject),
        )

    def index_of(self, clip_id: str) -> int:
        return self.clip_ids.index(clip_id)
