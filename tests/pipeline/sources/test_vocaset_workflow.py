"""The documented VOCASET workflow end to end (docs/evaluation.md "VOCASET columns", issue 13 2.11).

`build-dataset vocaset` -> `emoface train` -> `emoface evaluate` on a small generated input in
FaceFormer's VOCASET layout: a real face mesh (the 468-vertex canonical mesh standing in for
FLAME), VOCASET subject names, 60 fps vertices, 22 kHz int16 speech, FLAME_masks.pkl-style
regions. VOCASET has one clip per subject and sentence and no emotion labels, so it has no
cross-reconstruction pairs: training runs without L_cross and says so once.
"""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import synthetic_mesh
from tools.testing.experiments import tiny_experiment
from pipeline.cli import app as build_app
from pipeline.sources.vocaset import VOCASET_SUBJECTS

SR_SRC = 22000
TINY = tiny_experiment("voca-tiny", train={"epochs": 2})
# (subject, sentence, frames at 60 fps): two training sentences, one validation and one test clip
SEQS = [(VOCASET_SUBJECTS["train"][0], 1, 40), (VOCASET_SUBJECTS["train"][0], 2, 36),
        (VOCASET_SUBJECTS["val"][0], 21, 38), (VOCASET_SUBJECTS["test"][0], 22, 34)]


def _write_vocaset_faceformer_layout(src: Path) -> tuple[Path, Path]:
    """vertices_npy/, wav/, templates.pkl (FaceFormer's vocaset/), the mesh and FLAME_masks-style regions."""
    import trimesh

    v0, faces, regions = synthetic_mesh()
    (src / "vertices_npy").mkdir(parents=True)
    (src / "wav").mkdir()
    below = (v0[:, 1] < v0[13, 1]).astype(np.float32)
    templates = {}
    for k, (subject, sentence, t60) in enumerate(SEQS):
        tpl = templates.setdefault(subject, (v0 * (1.0 + 0.02 * len(templates))).astype(np.float64))
        t = np.arange(t60) / 60.0
        opening = 0.5 + 0.5 * np.sin(2 * np.pi * (2.0 + 0.5 * sentence) * t)
        seq = tpl[None] + opening[:, None, None] * below[None, :, None] * np.array([0.0, -0.008, -0.002])
        stem = f"{subject}_sentence{sentence:02d}"
        np.save(src / "vertices_npy" / f"{stem}.npy", seq.reshape(t60, -1).astype(np.float32))
        ts = np.arange(int(round(t60 / 60 * SR_SRC))) / SR_SRC
        env = np.interp(ts, t, opening)
        sf.write(str(src / "wav" / f"{stem}.wav"), (env * np.sin(2 * np.pi * 150 * ts) * 12000).astype(np.int16),
                 SR_SRC, subtype="PCM_16")
    with open(src / "templates.pkl", "wb") as fh:
        pickle.dump(templates, fh, protocol=2)
    mesh = src.parent / "FLAME_sample.obj"
    trimesh.Trimesh(v0, faces, process=False).export(mesh)
    masks = src.parent / "FLAME_masks.pkl"
    with open(masks, "wb") as fh:
        pickle.dump({name: [int(i) for i in idx] for name, idx in regions.items()}, fh, protocol=2)
    return mesh, masks


def test_build_vocaset_then_train_then_evaluate(tmp_path, caplog):
    src = tmp_path / "vocaset"
    mesh, masks = _write_vocaset_faceformer_layout(src)
    runner = CliRunner()
    out = tmp_path / "OUT_VOCA"
    r = runner.invoke(build_app, ["vocaset", str(src), "--out", str(out), "--topology", str(mesh),
                            "--masks", str(masks)])
    assert r.exit_code == 0, r.output
    from emoface.data.schema import SplitReader

    for split, n in (("train", 2), ("val", 1), ("test", 1)):
        with SplitReader(out / f"{split}.h5") as reader:
            assert len(reader.clip_ids) == n and {reader.clip_meta(c).emotion for c in reader.clip_ids} == {0}
    assert runner.invoke(app, ["validate", str(out / "train.h5"), str(out / "val.h5"), str(out / "test.h5")]).exit_code == 0

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "runs" / "voca"
    with caplog.at_level(logging.WARNING, logger="emoface.train"):
        r = runner.invoke(app, ["train", "-c", str(cfg), "-d", str(out), "-o", str(run)])
    assert r.exit_code == 0, r.output
    said = [m for m in caplog.messages if "cross-reconstruction" in m]
    assert len(said) == 1, caplog.messages  # said once, not once per epoch
    assert yaml.safe_load((run / "config.yaml").read_text())["pairs"]["cross_reconstruction"] is False
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["steps"] for e in metrics["epochs"]] == [2, 2]
    assert metrics["epochs"][-1]["val"]["clips"] == 1 and np.isfinite(metrics["epochs"][-1]["val"]["lve"])

    r = runner.invoke(app, ["evaluate", "--run", str(run), "--data", str(out), "--out", str(tmp_path / "report"),
                            "--threads", "1"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report and (tmp_path / "report" / "table.md").is_file()
