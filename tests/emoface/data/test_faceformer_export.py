"""Export to FaceFormer's layout, read it the way FaceFormer does, and import it back."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import soundfile as sf

from emoface.data.faceformer import ExportError, export_faceformer, faceformer_stem, upsample_2x
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from emoface.data.schema import SplitReader
from pipeline.sources.vocaset import import_vocaset  # the round trip: export here, read back by build-dataset vocaset


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("ff")
    small = dict(emotions=(0, 2), intensities=(0, 1), statements=(1,), base_frames=12)
    return [
        write_synthetic_split(root / "train.h5", SyntheticSpec(actors=(1, 2), **small)),
        write_synthetic_split(root / "test.h5", SyntheticSpec(actors=(5,), seed=2, **small)),
    ]


def test_upsample_2x_inverts_with_stride_2():
    v = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    up = upsample_2x(v)
    assert up.shape == (10, 4, 3)
    np.testing.assert_array_equal(up[::2], v)
    np.testing.assert_allclose(up[1], (v[0] + v[1]) / 2)


def test_export_is_readable_like_faceformer_and_round_trips(splits, tmp_path):
    out = tmp_path / "vocaset"
    report = export_faceformer(splits, out)
    assert report.subjects == {"train": ["Actor_01", "Actor_02"], "test": ["Actor_05"]}
    with open(out / "templates.pkl", "rb") as fh:
        templates = pickle.load(fh, encoding="latin1")  # what FaceFormer's loader does
    with SplitReader(splits[0]) as r:
        cid = r.clip_ids[0]
        rec = r.read_clip(cid)
        stem = faceformer_stem(rec.subject, cid, "train")
        wav_path = out / "wav" / f"{stem}.wav"
        vert = np.load(out / "vertices_npy" / f"{stem}.npy", allow_pickle=True)[::2, :]  # FaceFormer's vocaset [::2]
        assert vert.shape == (rec.n_frames, r.n_vertices * 3)
        np.testing.assert_array_equal(vert.reshape(rec.vertices.shape), rec.vertices)
        subject_id = "_".join(f"{stem}.npy".split("_")[:-1])  # FaceFormer's subject parse
        assert subject_id == rec.subject
        np.testing.assert_array_equal(templates[subject_id], r.template(rec.subject))
        audio, sr = sf.read(str(wav_path), dtype="float32")
        assert sr == 16000 and audio.ndim == 1
        np.testing.assert_allclose(audio, rec.audio, atol=1.5 / 32768)
    manifest = json.loads((out / "emoface_export.json").read_text())
    assert manifest["fps"] == 60 and len(manifest["clips"]) == report.clips

    # read back into HDF5 with labels and splits
    back = import_vocaset(out, tmp_path / "back", np.asarray(SplitReader(splits[0]).faces), SplitReader(splits[0]).regions)
    assert back.layout == "faceformer"
    for orig in splits:
        split = orig.stem
        with SplitReader(orig) as a, SplitReader(back.paths[split]) as b:
            assert a.clip_ids == b.clip_ids and a.subjects == b.subjects
            for cid in a.clip_ids:
                ra, rb = a.read_clip(cid), b.read_clip(cid)
                np.testing.assert_array_equal(ra.vertices, rb.vertices)
                assert (ra.emotion, ra.intensity, ra.statement, ra.repetition) == (rb.emotion, rb.intensity, rb.statement, rb.repetition)
                assert rb.audio.size == ra.audio.size


def test_export_30fps_and_overwrite_guard(splits, tmp_path):
    out = tmp_path / "ff30"
    export_faceformer(splits[:1], out, fps=30)
    with SplitReader(splits[0]) as r:
        cid = r.clip_ids[-1]
        n = r.clip_meta(cid).n_frames
        subj = r.clip_meta(cid).subject
    assert np.load(out / "vertices_npy" / f"{faceformer_stem(subj, cid, 'train')}.npy").shape[0] == n
    with pytest.raises(ExportError, match="not empty"):
        export_faceformer(splits[:1], out)
    with pytest.raises(ExportError, match="fps"):
        export_faceformer(splits[:1], tmp_path / "x", fps=25)
