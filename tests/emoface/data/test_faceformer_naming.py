"""Exported file names survive FaceFormer's own split filter, for every split.

FaceFormer's ``read_data`` (data_loader.py, github.com/EvelynFan/FaceFormer at commit dfaea81, the
commit the project's speed anchor uses) walks ``wav/``, turns each ``*.wav`` name into a key by
replacing ``wav`` with ``npy``, takes the subject as everything before the last ``_`` (its template
must be in ``templates.pkl``; the file in ``vertices_npy/`` must exist) and the sentence number as the
last two characters of the key before its first ``.``. A clip goes to a split when its subject is in
that split's ``--*_subjects`` list and its sentence number is in the split's range. The rule is
written out below from that description (not their code), so the test runs without FaceFormer.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from emoface.data.faceformer import ExportError, export_faceformer, faceformer_stem
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from emoface.data.schema import SplitReader

# FaceFormer's sentence ranges per --dataset and split.
RANGES = {
    "vocaset": {"train": range(1, 41), "val": range(21, 41), "test": range(21, 41)},
    "BIWI": {"train": range(1, 33), "val": range(33, 37), "test": range(37, 41)},
}


def faceformer_split_of(name: str, subjects: dict[str, list[str]], dataset: str) -> set[str]:
    """The splits FaceFormer's loader puts the file ``wav/<name>`` in (empty: dropped)."""
    key = name.replace("wav", "npy")
    subject = key.rpartition("_")[0]
    sentence = int(key.split(".")[0][-2:])
    return {split for split, allowed in RANGES[dataset].items() if subject in subjects[split] and sentence in allowed}


def faceformer_kept(out: Path, subjects: dict[str, list[str]], dataset: str) -> dict[str, set[str]]:
    """For each split, the wav file names FaceFormer's loader keeps from the export in ``out``."""
    with open(out / "templates.pkl", "rb") as fh:
        templates = pickle.load(fh, encoding="latin1")
    kept: dict[str, set[str]] = {split: set() for split in RANGES[dataset]}
    for wav in (out / "wav").rglob("*"):
        if not wav.name.endswith("wav"):
            continue
        key = wav.name.replace("wav", "npy")
        assert key.rpartition("_")[0] in templates, f"{wav.name}: FaceFormer's template lookup fails (KeyError)"
        if not (out / "vertices_npy" / key).exists():
            continue  # FaceFormer deletes the entry
        for split in faceformer_split_of(wav.name, subjects, dataset):
            kept[split].add(wav.name)
    return kept


@pytest.fixture(scope="module")
def demo_like_splits(tmp_path_factory):
    """Actors split as the demo split does (val and test actors outside 21-40)."""
    root = tmp_path_factory.mktemp("ffsplit")
    small = dict(emotions=(0, 2), intensities=(0,), statements=(1, 2), base_frames=8)
    return [
        write_synthetic_split(root / "train.h5", SyntheticSpec(actors=(1, 2), **small)),
        write_synthetic_split(root / "val.h5", SyntheticSpec(actors=(5,), seed=1, **small)),
        write_synthetic_split(root / "test.h5", SyntheticSpec(actors=(6,), seed=2, **small)),
    ]


@pytest.mark.parametrize("dataset", ["vocaset", "BIWI"])
def test_faceformer_loader_keeps_every_clip_in_its_split(demo_like_splits, tmp_path, dataset):
    out = tmp_path / "ff"
    report = export_faceformer(demo_like_splits, out, fps=60.0 if dataset == "vocaset" else 30.0)
    manifest = json.loads((out / "emoface_export.json").read_text())
    kept = faceformer_kept(out, manifest["subjects"], dataset)
    for sp in demo_like_splits:
        with SplitReader(sp) as r:
            n = len(r.clip_ids)
        expected = {f"{stem}.wav" for stem, c in manifest["clips"].items() if c["split"] == sp.stem}
        assert len(expected) == n > 0
        assert kept[sp.stem] == expected, f"{dataset} {sp.stem}: FaceFormer keeps {len(kept[sp.stem])} of {n} clips"
    assert sum(map(len, kept.values())) == report.clips


def test_stem_rule_with_underscores_dots_and_wav_in_ids():
    """VOCASET-style subjects hold '_'; clip ids may hold '_', '.' or 'wav': still parsed right."""
    subject = "FaceTalk_170725_00137_TA"
    subjects = {"train": [subject], "val": [subject], "test": [subject]}
    for split in ("train", "val", "test"):
        for cid in ("FaceTalk_170725_00137_TA_sentence05", "a.b_c", "wave-07", "01-01-01-01-01-01-06"):
            name = f"{faceformer_stem(subject, cid, split)}.wav"
            assert name.count(".") == 1 and name.replace("wav", "npy") == name[:-3] + "npy"
            assert name.rpartition("_")[0] == subject
            # BIWI ranges are disjoint: the split is read from the name alone
            assert faceformer_split_of(name, subjects, "BIWI") == {split}
            assert split in faceformer_split_of(name, subjects, "vocaset")


def test_unknown_split_name_and_bad_subject_refused(demo_like_splits, tmp_path):
    other = tmp_path / "extra.h5"
    other.write_bytes(demo_like_splits[0].read_bytes())
    with pytest.raises(ExportError, match="extra.h5.*train, val, test"):
        export_faceformer([other], tmp_path / "ff")
    assert not (tmp_path / "ff").exists()
    with pytest.raises(ExportError, match="subject"):
        faceformer_stem("sub.1", "x", "train")
