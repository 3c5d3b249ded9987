"""The HDF5 split format: write -> validate -> read is exact; damaged files give clear errors."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from emoface.data.schema import ClipRecord, SchemaError, SplitWriter, open_split, validate_split

V = 12
FACES = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [8, 9, 10], [9, 10, 11]], dtype=np.int32)


def _record(clip_id="01-01-03-02-01-01-01", subject="Actor_01", t=10, seed=0) -> ClipRecord:
    rng = np.random.default_rng(seed)
    return ClipRecord(
        clip_id=clip_id,
        subject=subject,
        vertices=rng.normal(size=(t, V, 3)).astype(np.float32) * 0.01,
        audio=rng.normal(size=(t * 16000 // 30,)).astype(np.float32) * 0.1,
        emotion=2,
        intensity=1,
        statement=1,
        repetition=1,
        source="Actor_01/01-01-03-02-01-01-01.mp4",
        source_sha256="ab" * 32,
        params={
            "shape": rng.normal(size=(5,)).astype(np.float32),
            "expression": rng.normal(size=(t, 4)).astype(np.float32),
            "jaw": rng.normal(size=(t, 3)).astype(np.float32),
        },
        landmarks=rng.normal(size=(t, 478, 3)).astype(np.float32),
        fit_error=rng.random(t).astype(np.float32),
        valid=rng.random(t) > 0.2,
    )


def _write(path, records, template_subjects=("Actor_01",)):
    regions = {"lips": np.array([0, 1, 2]), "eye_region": np.array([5, 6]), "forehead": np.array([11])}
    with SplitWriter(path, FACES, regions, "demo-head", "test-12", {"a": 1}, "cd" * 32) as w:
        for s in template_subjects:
            w.add_subject(s, np.zeros((V, 3), np.float32) + 0.5, gender="male")
        for r in records:
            w.add_clip(r)
    return path


def test_roundtrip_is_exact(tmp_path):
    recs = [_record(), _record("01-01-01-01-02-01-01", t=14, seed=1)]
    path = _write(tmp_path / "train.h5", recs)
    assert validate_split(path) == []
    with open_split(path) as r:
        assert r.clip_ids == sorted(x.clip_id for x in recs)
        assert r.subjects == ["Actor_01"]
        assert r.attrs["format"] == "emoface-meshseq" and r.attrs["model"] == "demo-head"
        assert r.config == {"a": 1}
        np.testing.assert_array_equal(r.faces, FACES)
        np.testing.assert_array_equal(r.regions["lips"], [0, 1, 2])
        np.testing.assert_array_equal(r.template("Actor_01"), np.full((V, 3), 0.5, np.float32))
        for rec in recs:
            got = r.read_clip(rec.clip_id, landmarks=True)
            np.testing.assert_array_equal(got.vertices, rec.vertices)
            np.testing.assert_array_equal(got.audio, rec.audio)
            np.testing.assert_array_equal(got.landmarks, rec.landmarks)
            np.testing.assert_array_equal(got.fit_error, rec.fit_error)
            np.testing.assert_array_equal(got.valid, rec.valid)
            for k, v in rec.params.items():
                np.testing.assert_array_equal(got.params[k], v)
            assert (got.emotion, got.intensity, got.statement, got.repetition) == (2, 1, 1, 1)
            assert got.source_sha256 == rec.source_sha256
            meta = r.clip_meta(rec.clip_id)
            assert meta.emotion_name == "happy" and meta.n_frames == rec.n_frames
        np.testing.assert_array_equal(r.read_vertices(recs[0].clip_id, 2, 5), recs[0].vertices[2:5])


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "train.h5"
    with pytest.raises(SchemaError, match="no template"):
        _write(path, [_record(subject="Actor_02")])
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_nan_and_length_mismatch(tmp_path):
    bad = _record()
    bad.vertices[3, 2, 1] = np.nan
    with pytest.raises(SchemaError, match="NaN"):
        _write(tmp_path / "a.h5", [bad])
    short = _record()
    short.audio = short.audio[:1000]
    with pytest.raises(SchemaError, match="frames at 30 fps need"):
        _write(tmp_path / "b.h5", [short])


def test_truncated_file_is_reported(tmp_path):
    path = _write(tmp_path / "train.h5", [_record()])
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    problems = validate_split(cut)
    assert len(problems) == 1 and "cut.h5" in problems[0] and "truncated or corrupt" in problems[0]
    with pytest.raises(SchemaError, match="truncated or corrupt"):
        open_split(cut)


def test_missing_dataset_is_reported(tmp_path):
    path = _write(tmp_path / "train.h5", [_record()])
    with h5py.File(path, "a") as h:
        del h["clips/01-01-03-02-01-01-01/audio"]
    problems = validate_split(path)
    assert any("missing dataset 'audio'" in p for p in problems), problems


def test_nan_vertices_are_reported(tmp_path):
    path = _write(tmp_path / "train.h5", [_record()])
    with h5py.File(path, "a") as h:
        d = h["clips/01-01-03-02-01-01-01/vertices"]
        block = d[0]
        block[0, 0] = np.nan
        d[0] = block
    problems = validate_split(path)
    assert any("vertices holds 1 NaN/inf" in p for p in problems), problems


def test_region_out_of_range_and_wrong_version(tmp_path):
    path = _write(tmp_path / "train.h5", [_record()])
    broken = tmp_path / "broken.h5"
    shutil.copy(path, broken)
    with h5py.File(broken, "a") as h:
        del h["topology/regions/lips"]
        h["topology/regions"].create_dataset("lips", data=np.array([0, 99], np.int32))
        h.attrs["version"] = 99
    problems = validate_split(broken)
    assert any("newer than this reader" in p for p in problems), problems
    with h5py.File(broken, "a") as h:
        h.attrs["version"] = 1
    problems = validate_split(broken)
    assert any("regions/lips" in p for p in problems), problems
