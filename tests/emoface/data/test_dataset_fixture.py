"""MeshSeqDataset over the learnable fixture splits; lazy per-worker opening."""

from __future__ import annotations

import pickle

import numpy as np
import torch

from emoface.data.dataset import MeshSeqDataset
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split, write_synthetic_splits
from emoface.data.schema import validate_split


def test_fixture_splits_are_valid_and_disjoint(tmp_path):
    paths = write_synthetic_splits(tmp_path, base_frames=20)
    subjects = {}
    for split, path in paths.items():
        assert validate_split(path) == [], split
        subjects[split] = set(MeshSeqDataset(path).speakers)
    assert not subjects["train"] & subjects["val"] and not subjects["train"] & subjects["test"]


def test_samples_and_speaker_indices(tmp_path):
    path = write_synthetic_split(tmp_path / "s.h5", SyntheticSpec(actors=(3, 4), base_frames=20))
    ds = MeshSeqDataset(path, speakers=["Actor_04", "Actor_07"])
    s = ds[0]
    assert s.vertices.dtype == torch.float32 and s.vertices.shape[1:] == (468, 3)
    assert s.audio.shape[0] == round(s.n_frames * 16000 / 30)
    assert s.template.shape == (468, 3)
    by_subject = {ds[i].subject: ds[i].speaker for i in range(len(ds))}
    assert by_subject == {"Actor_03": -1, "Actor_04": 0}
    # the dataset pickles without its open HDF5 handle (DataLoader workers reopen lazily)
    ds2 = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(ds2[1].vertices.numpy(), ds[1].vertices.numpy())


def test_dataloader_with_workers(tmp_path):
    path = write_synthetic_split(tmp_path / "s.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), base_frames=15))
    ds = MeshSeqDataset(path)
    _ = ds[0]  # the parent opens the file first; forked workers must reopen it, not share the handle
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")
    ids = sorted(s.clip_id for s in loader)
    assert ids == sorted(ds.clip_ids)


def test_emotion_changes_upper_face_and_audio_drives_jaw(tmp_path):
    path = write_synthetic_split(tmp_path / "s.h5", SyntheticSpec(actors=(1,), emotions=(0, 4), intensities=(0,), statements=(1,)))
    ds = MeshSeqDataset(path)
    neutral = next(ds[i] for i in range(len(ds)) if ds[i].emotion == 0)
    angry = next(ds[i] for i in range(len(ds)) if ds[i].emotion == 4)
    off_n = (neutral.vertices - neutral.template).norm(dim=-1)
    off_a = (angry.vertices - angry.template).norm(dim=-1)
    assert off_a.mean() > off_n.mean()
    # jaw opening follows the audio envelope
    env = torch.stack([c.abs().mean() for c in neutral.audio.tensor_split(neutral.n_frames)])
    opening = off_n.max(dim=1).values
    r = np.corrcoef(env.numpy(), opening.numpy())[0, 1]
    assert r > 0.8, r
