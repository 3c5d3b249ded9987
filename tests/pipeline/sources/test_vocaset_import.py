"""VOCASET import from small fixtures in both layouts (original VOCA files and FaceFormer's)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emoface.data.schema import SplitReader, validate_split
from pipeline.sources.vocaset import VOCASET_SUBJECTS, VocasetError, VocasetSplit, fit_lengths, import_vocaset
from emoface.morphable.pickle_io import UnsafePickleError

V = 12
FACES = np.array([[i, i + 1, i + 2] for i in range(V - 2)], dtype=np.int32)
REGIONS = {"lips": np.array([0, 1, 2]), "eye_region": np.array([5, 6]), "forehead": np.array([9, 10, 11])}
TRAIN_S, VAL_S, TEST_S = VOCASET_SUBJECTS["train"][0], VOCASET_SUBJECTS["val"][0], VOCASET_SUBJECTS["test"][1]
# (subject, sentence, frames at 60 fps): sentence 05 of the val subject falls outside 21-40
SEQS = [(TRAIN_S, 1, 20), (TRAIN_S, 30, 17), (VAL_S, 5, 12), (VAL_S, 22, 14), (TEST_S, 40, 16)]
SR_SRC = 22000


def _sequence(k: int, t60: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    return (rng.normal(size=(t60, V, 3)) * 0.01).astype(np.float32)


def _audio(t60: int) -> np.ndarray:
    n = int(round(t60 / 60 * SR_SRC))
    return (np.sin(np.arange(n) * 2 * np.pi * 200 / SR_SRC) * 12000).astype(np.int16)


def _templates() -> dict:
    return {s: np.full((V, 3), i, dtype=np.float64) for i, s in enumerate(sorted({s for s, _, _ in SEQS}))}


def _write_voca(root: Path) -> None:
    rows, idx, raw = [], {}, {}
    start = 0
    for k, (s, sent, t60) in enumerate(SEQS):
        seq = f"sentence{sent:02d}"
        v = _sequence(k, t60)
        rows.append(v)
        # frame numbers start at 1 and are stored out of order, as dict keys
        frames = {f + 1: start + f for f in range(t60)}
        idx.setdefault(s, {})[seq] = dict(reversed(list(frames.items())))
        raw.setdefault(s, {})[seq] = {"audio": _audio(t60), "sample_rate": SR_SRC}
        start += t60
    np.save(root / "data_verts.npy", np.concatenate(rows))
    for name, obj in (("subj_seq_to_idx.pkl", idx), ("raw_audio_fixed.pkl", raw), ("templates.pkl", _templates())):
        with open(root / name, "wb") as fh:
            pickle.dump(obj, fh, protocol=2)


def _write_faceformer(root: Path) -> None:
    (root / "vertices_npy").mkdir()
    (root / "wav").mkdir()
    for k, (s, sent, t60) in enumerate(SEQS):
        stem = f"{s}_sentence{sent:02d}"
        np.save(root / "vertices_npy" / f"{stem}.npy", _sequence(k, t60).reshape(t60, -1))
        sf.write(str(root / "wav" / f"{stem}.wav"), _audio(t60), SR_SRC, subtype="PCM_16")
    with open(root / "templates.pkl", "wb") as fh:
        pickle.dump(_templates(), fh, protocol=2)


@pytest.mark.parametrize("layout", ["voca", "faceformer"])
def test_import_both_layouts(tmp_path, layout):
    src = tmp_path / "src"
    src.mkdir()
    (_write_voca if layout == "voca" else _write_faceformer)(src)
    report = import_vocaset(src, tmp_path / "out", FACES, REGIONS, topology_name="fixture")
    assert report.layout == layout
    assert report.clips == {"train": 2, "val": 1, "test": 1}  # val sentence05 is outside 21-40
    for split in ("train", "val", "test"):
        assert validate_split(report.paths[split]) == []
    with SplitReader(report.paths["train"]) as r:
        assert r.clip_ids == [f"{TRAIN_S}_sentence01", f"{TRAIN_S}_sentence30"]
        rec = r.read_clip(f"{TRAIN_S}_sentence30")
        # 60 -> 30 fps: every second frame, starting with the first
        np.testing.assert_allclose(rec.vertices, _sequence(1, 17)[::2], atol=1e-7)
        assert rec.n_frames == 9 and rec.statement == 30 and rec.emotion == 0
        assert abs(rec.audio.size - 9 * 16000 / 30) <= 16000 / 30  # resampled to 16 kHz
        assert np.abs(rec.audio).max() == pytest.approx(12000 / 32768, rel=0.05)
        np.testing.assert_array_equal(r.template(TRAIN_S), _templates()[TRAIN_S].astype(np.float32))
        assert set(r.regions) == set(REGIONS)
    with SplitReader(report.paths["val"]) as r:
        assert r.clip_ids == [f"{VAL_S}_sentence22"]


def test_custom_split_and_overwrite_guard(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_voca(src)
    split = VocasetSplit(subjects={"train": (TRAIN_S, VAL_S), "val": (), "test": (TEST_S,)}, train_sentences=None)
    report = import_vocaset(src, tmp_path / "out", FACES, REGIONS, split=split)
    assert report.clips == {"train": 4, "test": 1}
    with pytest.raises(VocasetError, match="exists"):
        import_vocaset(src, tmp_path / "out", FACES, REGIONS)


def test_malicious_pickle_is_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_faceformer(src)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with open(src / "templates.pkl", "wb") as fh:
        pickle.dump({"x": Evil()}, fh)
    with pytest.raises(UnsafePickleError, match="system"):
        import_vocaset(src, tmp_path / "out", FACES, REGIONS)


def test_missing_files_name_the_file(tmp_path):
    with pytest.raises(VocasetError, match="neither"):
        import_vocaset(tmp_path, tmp_path / "out", FACES, REGIONS)
    (tmp_path / "data_verts.npy").write_bytes(b"")
    with pytest.raises(VocasetError, match="templates.pkl"):
        import_vocaset(tmp_path, tmp_path / "out", FACES, REGIONS)


def test_fit_lengths_trims_never_pads():
    v = np.zeros((10, V, 3), np.float32)
    _, a, info = fit_lengths(v, np.zeros(16000, np.float32))  # 1 s of audio for 1/3 s of frames
    assert a.size == round(10 * 16000 / 30) and info == {"audio_trimmed_samples": 16000 - a.size}
    v2, a2, info = fit_lengths(v, np.zeros(2000, np.float32))
    assert len(v2) == 4 and a2.size == 2000 and info == {"frames_dropped": 6}
    _, _, info = fit_lengths(v, np.zeros(5400, np.float32))
    assert info == {}


def test_cli_import_then_export(tmp_path):
    import trimesh
    from typer.testing import CliRunner

    from emoface.cli import app
    from pipeline.cli import app as build_app

    src = tmp_path / "src"
    src.mkdir()
    _write_voca(src)
    ply = tmp_path / "FLAME_sample.ply"
    trimesh.Trimesh(np.zeros((V, 3)) + np.arange(V)[:, None] * [1, 0.5, 0.1], FACES, process=False).export(ply)
    runner = CliRunner()
    res = runner.invoke(build_app, ["vocaset", str(src), "--out", str(tmp_path / "h5"), "--topology", str(ply)])
    assert res.exit_code == 0, res.output
    assert "train 2 clips" in res.output and "--masks" in res.output  # warns: no regions in a .ply
    res = runner.invoke(app, ["export-faceformer", str(tmp_path / "h5" / "train.h5"), "--out", str(tmp_path / "ff")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "ff" / "vertices_npy").glob("*.npy"))) == 2
    res = runner.invoke(build_app, ["vocaset", str(src), "--out", str(tmp_path / "h5"), "--topology", str(ply)])
    assert res.exit_code == 2 and "exists" in res.output  # a setup error: nothing was overwritten


def test_emoface_import_vocaset_points_to_build_dataset(tmp_path):
    from typer.testing import CliRunner

    from emoface.cli import app

    res = CliRunner().invoke(app, ["import-vocaset", str(tmp_path), "--out", str(tmp_path / "h5"), "--topology", "x.ply"])
    assert res.exit_code == 2 and "build-dataset vocaset" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "h5").exists()
