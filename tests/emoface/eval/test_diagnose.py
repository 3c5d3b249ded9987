"""`emoface diagnose` (issue 16 item 4) on a tiny trained run: each measure computes, is in range, and follows the branch it names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from emoface.cli import app
from emoface.data.dataset import MeshSeqDataset
from emoface.eval.diagnose import render_diagnosis
from emoface.eval.diagnose_branches import VARIANTS, ClipFeatures, emotion_classification, encode_clips, region_drive
from emoface.eval.diagnose_curves import CurvesError, final_losses, read_curves
from emoface.train import train
from emoface.train.checkpoint import load_run
from tools.testing.experiments import tiny_experiment
from tools.testing.fixtures import write_synthetic_splits

REGIONS = ("lips", "eye_region", "forehead")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Splits (train: actors 1-2, val: 3, test: 4; neutral, happy, angry; 2 statements) and a one-epoch tiny run."""
    root = tmp_path_factory.mktemp("diagnose")
    torch.set_num_threads(1)
    write_synthetic_splits(root / "data", train_actors=(1, 2), val_actors=(3,), test_actors=(4,), emotions=(0, 2, 4),
                           statements=(1, 2), base_frames=12)
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_experiment("tiny-diagnose", train={"batch_size": 4})))
    train(cfg, root / "data", root / "run")
    return root / "data", root / "run"


def test_cli_report_is_in_range(trained, tmp_path):
    data, run = trained
    res = CliRunner().invoke(app, ["diagnose", "--run", str(run), "--data", str(data), "--out", str(tmp_path), "--threads", "1",
                                     "--max-clips", "4", "--max-pairs", "4"])
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "diagnose.json").read_text())
    md = (tmp_path / "diagnose.md").read_text()
    e = r["emotion"]
    assert e["chance"] == pytest.approx(1 / 8)
    assert set(e["head"]) == {"train", "val", "test"} and e["head"]["test"]["n_clips"] == 10
    accs = [e["head"][k]["accuracy"] for k in e["head"]] + [e["probe_emotion"]["accuracy"], e["probe_content"]["accuracy"],
                                                           *e["probe_train"].values()]
    assert all(0.0 <= a <= 1.0 for a in accs)
    assert e["majority"] == pytest.approx(0.4)  # test: 2 neutral, 4 happy, 4 angry
    d = r["drive"]
    assert set(d["drive"]) == set(VARIANTS) and set(d["regions"]) == set(REGIONS)
    assert all(v >= 0 and math.isfinite(v) for per in d["drive"].values() for v in per.values())
    assert all(d["prediction"][g] > 0 and d["ground_truth"][g] > 0 for g in REGIONS)
    assert all(0 < d["weight"][g] < 1 and 0 <= d["emotion_share"][g] <= 1 for g in REGIONS)
    assert d["n_clips"]["emotion_swap"] == 4 and d["emotion_swap_truth"]["eye_region"] > 0
    assert r["curves"]["epochs"] == 1 and r["curves"]["chance_classification"] == pytest.approx(math.log(8))
    assert {"loss", "self", "cross", "velocity", "classification"} <= set(r["curves"]["train"])
    assert {"lve", "eve"} <= set(r["curves"]["val"])
    for split in ("train", "val"):
        ls = r["losses"][split]
        assert ls["n_pairs"] == 4 and ls["self"] > 0 and ls["cross"] > 0 and 0 <= ls["head_accuracy"] <= 1
        assert ls["classification"] > 0
    assert "**Region drive**" in md and "| emotion swap |" in md and "| classifier head (L_cls) |" in md

    # a single branch's report: no head, no emotion probe; the content probe's row still has one cell per column
    single = {**r, "emotion": {**e, "head": {}, "probe_emotion": None, "probe_train": {"content": 0.5}}}
    lines = render_diagnosis(single).splitlines()
    header = next(ln for ln in lines if ln.startswith("| what |"))
    probe = next(ln for ln in lines if ln.startswith("| probe on content"))
    assert header == "| what | train | test |" and probe.count("|") == header.count("|")
    assert not any("classifier head" in ln or "probe on emotion" in ln for ln in lines)


def _model(run: Path):
    model, _cfg, _meta = load_run(run)
    return model


def _force_weight(model, value: float) -> None:
    """Mesh Attention's output made a constant ``sigmoid(value)``, whatever the features."""
    last = model.mesh_attention.convs[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def test_drive_follows_the_branch_that_moves_the_face(trained):
    """Emotion branch silenced (its output 0, weight 0): zeroing or swapping F_e moves nothing, F_c moves the face.
    Content branch silenced (weight 1): the reverse. A measure that ignored the emotion input, or mixed up the
    branches, fails one of the two."""
    data, run = trained
    ds = MeshSeqDataset(data / "test.h5")
    regions = {k: np.asarray(v) for k, v in ds.regions.items()}

    content_only = _model(run)
    with torch.no_grad():
        content_only.emotion_decoder.output.weight.zero_()
        content_only.emotion_decoder.output.bias.zero_()
    _force_weight(content_only, -40.0)
    r = region_drive(content_only, ds, regions, max_clips=4)
    for g in REGIONS:
        assert r.drive["emotion_zero"][g] == pytest.approx(0.0, abs=1e-9)
        assert r.drive["emotion_swap"][g] == pytest.approx(0.0, abs=1e-9)
        assert r.drive["content_zero"][g] > 1e-3 and r.drive["content_swap"][g] > 1e-4
        assert r.emotion_share[g] == pytest.approx(0.0, abs=1e-9) and r.weight[g] < 1e-12

    emotion_only = _model(run)
    _force_weight(emotion_only, 40.0)
    r = region_drive(emotion_only, ds, regions, max_clips=4)
    for g in REGIONS:
        assert r.drive["content_zero"][g] == pytest.approx(0.0, abs=1e-9)
        assert r.drive["content_swap"][g] == pytest.approx(0.0, abs=1e-9)
        assert r.drive["emotion_zero"][g] > 1e-3 and r.drive["emotion_swap"][g] > 1e-4
        assert r.emotion_share[g] == pytest.approx(1.0, abs=1e-9)


def test_head_accuracy_is_the_heads_verdict(trained):
    """A head that always says 'happy' (class 2) scores the share of happy clips: 4 of 10 in every held-out split."""
    data, run = trained
    model = _model(run)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.nn.functional.one_hot(torch.tensor(2), 8).float() * 10)
    train_f = encode_clips(model, MeshSeqDataset(data / "train.h5"))
    held = {"test": encode_clips(model, MeshSeqDataset(data / "test.h5"))}
    res = emotion_classification(8, train_f, held, "test")
    assert res.head["test"].accuracy == pytest.approx(0.4) and res.head["train"].accuracy == pytest.approx(0.4)
    assert res.head["test"].per_emotion == {0: 0.0, 2: 1.0, 4: 0.0}


def test_probes_by_hand():
    """Emotion features that are the class one-hot: the probe is exact; constant content features: one class for all."""
    y = [0, 0, 2, 2, 4, 4]
    onehot = lambda e: np.eye(8)[e] + 0.01 * e  # noqa: E731
    clips = [ClipFeatures(f"c{i}", e, np.ones(4), onehot(e), e) for i, e in enumerate(y)]
    test = [ClipFeatures(f"t{i}", e, np.ones(4), onehot(e), 0) for i, e in enumerate([0, 2, 2, 4])]
    res = emotion_classification(8, clips, {"test": test}, "test")
    assert res.probe_emotion.accuracy == 1.0 and res.probe_train == {"content": pytest.approx(1 / 3), "emotion": 1.0}
    assert res.probe_content.accuracy == pytest.approx(0.25)  # every clip gets class 0 (ties go to the first class)
    assert res.head["test"].accuracy == pytest.approx(0.25) and res.head["train"].accuracy == 1.0
    assert res.majority == pytest.approx(0.5) and res.chance == pytest.approx(0.125)


def test_curves_by_hand(tmp_path):
    epochs = [{"epoch": k, "train": {"loss": 10.0 - k, "classification": 2.08 - 0.01 * k, "cross": [0.02, 0.01, 0.015][k],
                                     "velocity": 0.0},
               "val": {"lve": [3e-5, 2e-5, 2.5e-5][k], "eve": float("nan")}} for k in range(3)]
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": epochs, "best": {"epoch": 1}}))
    c = read_curves(tmp_path)
    # velocity is 0 at every epoch (like a single branch's L_cls): not a curve
    assert c["epochs"] == 3 and set(c["train"]) == {"loss", "classification", "cross"} and set(c["val"]) == {"lve"}
    assert c["train"]["loss"].ratio == pytest.approx(0.8) and c["train"]["loss"].decreased
    assert not c["train"]["classification"].decreased  # 2.06 / 2.08: less than the 10 % that counts
    cross = c["train"]["cross"]
    assert (cross.first, cross.last, cross.min, cross.min_epoch, cross.decreased) == (0.02, 0.015, 0.01, 1, True)
    assert c["val"]["lve"].min_epoch == 1
    with pytest.raises(CurvesError, match=str(tmp_path / "none" / "metrics.json")):
        read_curves(tmp_path / "none")


def test_final_losses_on_train_and_held_out(trained):
    data, run = trained
    model, cfg, meta = load_run(run)
    tr = final_losses(model, data / "train.h5", meta.speakers, cfg.loss, max_pairs=3)
    va = final_losses(model, data / "val.h5", meta.speakers, cfg.loss, max_pairs=None)
    assert tr["n_pairs"] == 3 and va["n_pairs"] == 10  # every val clip has a partner of another emotion
    assert all(v > 0 for v in (tr["self"], tr["cross"], va["self"], va["cross"], va["classification"]))


def test_cli_setup_errors_are_one_line(trained, tmp_path):
    data, run = trained
    runner = CliRunner()
    res = runner.invoke(app, ["diagnose", "--run", str(tmp_path / "none"), "--data", str(data)])
    assert res.exit_code == 2 and "not a run folder" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["diagnose", "--run", str(run), "--data", str(tmp_path)])
    assert res.exit_code == 2 and str(tmp_path / "test.h5") in res.output


def test_history_measures_follow_the_decoders_input_layer(trained):
    """Decoders whose input layer is zero cannot see the motion history: the start-frame and history drives are 0;
    with that layer scaled up they see it and both drives are positive."""
    data, run = trained
    ds = MeshSeqDataset(data / "test.h5")
    regions = {k: np.asarray(v) for k, v in ds.regions.items()}
    blind = _model(run)
    with torch.no_grad():
        for dec in (blind.content_decoder, blind.emotion_decoder):
            dec.vertex_map.weight.zero_()
    r = region_drive(blind, ds, regions, max_clips=3)
    for g in REGIONS:
        assert r.drive["start_template"][g] == pytest.approx(0.0, abs=1e-9)
        assert r.drive["history_zero"][g] == pytest.approx(0.0, abs=1e-4)  # parallel vs cached pass: float rounding (mm)
        assert r.drive["emotion_zero"][g] > 1e-4
    seeing = _model(run)
    with torch.no_grad():
        for dec in (seeing.content_decoder, seeing.emotion_decoder):
            dec.vertex_map.weight.mul_(1000.0)
    r = region_drive(seeing, ds, regions, max_clips=3)
    assert all(r.drive["start_template"][g] > 1e-3 and r.drive["history_zero"][g] > 1e-3 for g in REGIONS)
