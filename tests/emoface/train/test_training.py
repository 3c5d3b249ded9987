"""Training end to end on tiny fixture splits: overfitting, exact resume, DDP, NaN stop, run folders."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from tools.testing.experiments import tiny_experiment
from emoface.model.emoface import shift_frames
from emoface.train.checkpoint import load_run, read_checkpoint
from emoface.train.config import ExperimentConfig
from emoface.train.trainer import NonFiniteLossError, Trainer
from emoface.utils.config import from_dict

REPO = Path(__file__).resolve().parents[3]


def tiny_config(**sections) -> dict:
    """The tiny experiment for two epochs with a log line per step; ``sections`` update its sections."""
    return tiny_experiment(train={"epochs": 2, "log_every": 1, **sections.pop("train", {})}, **sections)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("splits")
    write_synthetic_split(root / "two" / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0,),
                                                                   statements=(1,), base_frames=24))
    write_synthetic_split(root / "two" / "val.h5", SyntheticSpec(actors=(4,), emotions=(2,), intensities=(1,),
                                                                 statements=(1,), base_frames=24, seed=1))
    write_synthetic_split(root / "four" / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0,),
                                                                    statements=(1, 2), base_frames=20))
    return root


def test_tiny_model_overfits_two_clips(data, tmp_path):
    cfg = from_dict(ExperimentConfig, tiny_config(
        train={"epochs": 30, "log_every": 1000},
        schedule={"theta": 15},
        model={"decoder": {"dropout": 0.0}, "emotion_label": {"dropout": 0.0}},
    ))
    (tmp_path / "d").mkdir()
    os.symlink(data / "two" / "train.h5", tmp_path / "d" / "train.h5")  # no val.h5: train only
    res = Trainer(cfg, tmp_path / "d", tmp_path / "run").run()
    losses = [e["train"]["loss"] for e in res["epochs"]]
    assert len(losses) == 30 and all(e["steps"] == 2 for e in res["epochs"])
    assert losses[-1] < losses[0] / 10, losses
    assert res["epochs"][-1]["p_gt"] == 0.0 and res["epochs"][0]["p_gt"] == 1.0
    assert 0.0 < res["epochs"][17]["train"]["gt_ratio"] < 1.0


def _write_cfg(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(data, tmp_path):
    cfg = _write_cfg(tmp_path / "cfg.yaml", tiny_config())
    runner = CliRunner()
    d = str(data / "two")
    r = runner.invoke(app, ["train", "-c", str(cfg), "-d", d, "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "-c", str(cfg), "-d", d, "-o", str(tmp_path / "b"), "--max-steps", "3"])
    assert r.exit_code == 0, r.output
    mid = read_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert (mid["epoch"], mid["step_in_epoch"], mid["global_step"]) == (1, 1, 3)
    r = runner.invoke(app, ["train", "-d", d, "-o", str(tmp_path / "b"), "--resume"])
    assert r.exit_code == 0, r.output
    a = read_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = read_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert a["global_step"] == b["global_step"] == 4
    for name, t in a["model"].items():
        assert torch.equal(t, b["model"][name]), name
    for k, st in a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])
    # the run folder: resolved config, metrics, tensorboard events, best checkpoint
    run = tmp_path / "a"
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["feature_dim"] == 32
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1]
    val = metrics["epochs"][-1]["val"]
    assert val["clips"] == 1 and val["lve"] > 0 and val["template_lve"] > 0 and np.isfinite(val["eve"])
    assert 1e-3 < val["mesh_attention_weight"] < 1 - 1e-3  # both branches shape the motion
    assert any((run / "events").iterdir()) and (run / "checkpoints" / "best.pt").is_file()
    assert torch.load(run / "checkpoints" / "best.pt", weights_only=True)["format"] == "emoface-checkpoint"
    # never reuse a run folder without --resume/--overwrite
    r = runner.invoke(app, ["train", "-c", str(cfg), "-d", d, "-o", str(run)])
    assert r.exit_code != 0 and "--overwrite" in r.output
    # inference API on the trained run
    model, rcfg, meta = load_run(run, "cpu")
    assert meta.speakers == ["Actor_01"] and meta.n_vertices == 468 and meta.faces.shape[1] == 3
    tpl = meta.templates["Actor_01"]
    out = model.predict(np.zeros(16000, np.float32), tpl, speaker=0, intensity=1, emotion="happy")
    assert out.shape == (30, 468, 3) and torch.isfinite(out).all()


def test_a_collapsed_mesh_attention_is_reported_each_epoch(data, tmp_path, caplog):
    cfg = from_dict(ExperimentConfig, tiny_config(train={"epochs": 1, "log_every": 1000}))
    trainer = Trainer(cfg, data / "two", tmp_path / "run")
    setup = trainer._setup

    def collapse() -> None:  # a saturated sigmoid: every weight ~1e-17, no gradient brings it back
        setup()
        with torch.no_grad():
            trainer.model.mesh_attention.convs[-1].bias.fill_(-40.0)

    trainer._setup = collapse
    with caplog.at_level("WARNING", logger="emoface.train"):
        res = trainer.run()
    w = res["epochs"][-1]["val"]["mesh_attention_weight"]
    assert 0 <= w < 1e-6
    assert any("Mesh Attention has collapsed onto the content branch" in r.getMessage() for r in caplog.records)


def test_nan_loss_stops_with_step_and_clips_named(data, tmp_path):
    cfg = from_dict(ExperimentConfig, tiny_config(optim={"lr": 1e30}, schedule={"kind": "teacher_forcing"}))
    with pytest.raises(NonFiniteLossError, match=r"epoch 0 step 1 .*clips 01-01-0\d-01-01-01-01"):
        Trainer(cfg, data / "two", tmp_path / "run").run()


def test_two_process_gloo_ddp_trains_with_identical_weights(data, tmp_path):
    cfg = _write_cfg(tmp_path / "cfg.yaml", tiny_config(train={"epochs": 1}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "emoface",
           "train", "-c", str(cfg), "-d", str(data / "four"), "-o", str(tmp_path / "run"), "--device", "cpu"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    hashes = metrics["ddp_weight_sha256"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert metrics["epochs"][0]["steps"] == 4  # 4 pairs, 2 per rank
    state = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert len(state["rng"]) == 2 and state["global_step"] == 2
    assert state["model"]["content_decoder.output.weight"].abs().sum() > 0  # trained (zero-initialised)


@pytest.mark.parametrize("override", [
    {"model": {"fusion": "add"}},
    {"model": {"single_branch": True}},
    {"model": {"feedback": "own"}, "schedule": {"stage1_loss_weight": 0.5}},
    {"schedule": {"kind": "autoregressive"}},
    {"schedule": {"kind": "teacher_forcing", "draw": "sequence"}, "train": {"batch_size": 4, "num_workers": 1}},
    {"schedule": {"kind": "self_growing"}, "train": {"batch_size": 4}},
    {"model": {"decoder": {"start_token": "template"}, "mesh_attention": {"vertex_embedding": "template",
                                                                          "weight_channels": 3}}},
])
def test_ablations_train_a_step(data, tmp_path, override, monkeypatch):
    cfg = from_dict(ExperimentConfig, tiny_config(**override))
    targets = _record_targets(monkeypatch)
    res = Trainer(cfg, data / "four", tmp_path / "run", max_steps=2).run()
    assert res["stopped_early"] and res["global_step"] == 2
    model, _, _ = load_run(tmp_path / "run", "cpu", "last")
    assert model.cfg == cfg.model
    assert len(targets) == 4  # 2 steps x (self target, cross target)
    state = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    has_attention = any(k.startswith("mesh_attention.") for k in state)
    if cfg.model.fusion == "add" or cfg.model.single_branch:
        # no Mesh Attention anywhere: no weights saved, and the fused offsets are emotion + content
        assert model.mesh_attention is None and not has_attention
        for t in targets:
            out = t["out"].final
            assert out.weight is None
            if out.emotion is not None:
                torch.testing.assert_close(out.fused, out.emotion + out.content)
    else:
        assert model.mesh_attention is not None and has_attention
        assert all(t["out"].final.weight is not None for t in targets)
    if cfg.schedule.kind == "teacher_forcing":
        # one decoder pass per target, fed only ground-truth frames: no prediction is fed back
        for t in targets:
            assert len(t["decoder_inputs"]) == 1 and t["out"].stage1 is None
            teacher = shift_frames(t["gt"], t["start"])
            for fed in t["decoder_inputs"][0]:
                torch.testing.assert_close(fed, teacher, rtol=0, atol=0)
        # batch 4 = one step per epoch: the second step ran in epoch 1, where self-growing feeds predictions (the control)
        assert [e["epoch"] for e in res["epochs"]][:1] == [0]
    elif cfg.schedule.kind == "self_growing":
        # the control: where p_gt < 1 the second pass is fed the first pass's predictions, not the ground truth
        fed_back = [t for t in targets if t["p_gt"] < 1]
        assert bool(fed_back) == (cfg.train.batch_size == 4)
        for t in fed_back:
            assert len(t["decoder_inputs"]) == 2
            assert not torch.equal(t["decoder_inputs"][1][0], shift_frames(t["gt"], t["start"]))


def _record_targets(monkeypatch) -> list[dict]:
    """Record, for every decoded target of a training step, its ground truth and what each decoder pass was fed."""
    from emoface.train.step import PairModel

    records: list[dict] = []
    target = PairModel._target

    def recording_target(self, inputs, gt, uniform, p_gt, content_of=None):
        rec = {"gt": gt.detach().clone(), "decoder_inputs": [], "p_gt": p_gt}
        rec["start"] = gt[:, 0].detach().clone() if self.model.cfg.decoder.start_token == "first_frame" else torch.zeros_like(gt[:, 0])
        decode = self.model.decode

        def recording_decode(branch_inputs, prev_emotion, prev_content=None, content=None):
            fed = [prev_emotion] if prev_content is None else [prev_emotion, prev_content]
            rec["decoder_inputs"].append([x.detach().clone() for x in fed])
            return decode(branch_inputs, prev_emotion, prev_content, content=content)

        self.model.decode = recording_decode
        try:
            rec["out"] = target(self, inputs, gt, uniform, p_gt, content_of)
        finally:
            del self.model.decode
        records.append(rec)
        return rec["out"]

    monkeypatch.setattr(PairModel, "_target", recording_target)
    return records
