"""`emoface train` on bad inputs and interrupted runs (issue 13, section 2: items 3, 4, 6, 7, 11).

Every bad input ends with one line naming the file (or key) and the problem, exit 2, and no
traceback; runs killed before their first checkpoint can be continued.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from tools.testing.cli import one_line_error
from tools.testing.experiments import tiny_experiment
from emoface.train.checkpoint import read_checkpoint
from emoface.train.config import ExperimentConfig
from emoface.utils.config import dump_yaml, from_dict

TINY = tiny_experiment(train={"epochs": 2, "log_every": 1})


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("splits")
    # a pair (same actor and statement, two emotions) and a one-clip validation split
    write_synthetic_split(root / "good" / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0,),
                                                                    statements=(1,), base_frames=16))
    write_synthetic_split(root / "good" / "val.h5", SyntheticSpec(actors=(4,), emotions=(2,), intensities=(1,),
                                                                  statements=(1,), base_frames=16, seed=1))
    # one emotion per actor and statement: no cross-reconstruction pair (like a VOCASET import)
    write_synthetic_split(root / "unpaired" / "train.h5", SyntheticSpec(actors=(1,), emotions=(0,), intensities=(0,),
                                                                        statements=(1, 2), base_frames=16))
    return root


@pytest.fixture()
def cfg_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _train(*args: str):
    return CliRunner().invoke(app, ["train", *args])


def _copy(src: Path, dst_dir: Path) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst_dir / src.name)
    return dst_dir / src.name


# ---------------------------------------------------------------- item 3: empty val.h5
def test_empty_val_split_warns_and_best_follows_last(splits, tmp_path, cfg_file, caplog):
    data = tmp_path / "data"
    _copy(splits / "good" / "train.h5", data)
    write_synthetic_split(data / "val.h5", SyntheticSpec(actors=(), emotions=(), statements=()))
    with h5py.File(data / "val.h5") as h:
        assert len(h["clips"]) == 0
    with caplog.at_level(logging.WARNING, logger="emoface.train"):
        r = _train("-c", str(cfg_file), "-d", str(data), "-o", str(tmp_path / "run"))
    assert r.exit_code == 0, r.output
    assert any("has no clips" in m and "val.h5" in m for m in caplog.messages), caplog.messages
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert all("val" not in e for e in metrics["epochs"])  # no validation LVE of 0 from zero clips
    best = read_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["best"]["epoch"] == 1 and best["epoch"] == 2  # the last epoch, not epoch 1 forever


# ---------------------------------------------------------------- item 4: what `emoface validate` rejects
def _int16_vertices(h: h5py.File) -> None:
    cid = sorted(h["clips"])[0]
    v = h[f"clips/{cid}/vertices"][()]
    del h[f"clips/{cid}/vertices"]
    h[f"clips/{cid}/vertices"] = (v * 1000).astype(np.int16)


def _float64_vertices(h: h5py.File) -> None:
    cid = sorted(h["clips"])[0]
    v = h[f"clips/{cid}/vertices"][()]
    del h[f"clips/{cid}/vertices"]
    h[f"clips/{cid}/vertices"] = v.astype(np.float64)


def _region_out_of_range(h: h5py.File) -> None:
    lips = h["topology/regions/lips"][()]
    del h["topology/regions/lips"]
    h["topology/regions/lips"] = np.append(lips, 100000).astype(np.int32)


def _string_emotion(h: h5py.File) -> None:
    h[f"clips/{sorted(h['clips'])[0]}"].attrs["emotion"] = "happy"


BAD_FILES = {"int16": (_int16_vertices, "float32"), "float64": (_float64_vertices, "float32"),
             "region": (_region_out_of_range, "regions/lips"), "string-emotion": (_string_emotion, "emotion")}


@pytest.mark.parametrize("split", ["train", "val"])
@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_train_refuses_files_that_validate_rejects(splits, tmp_path, cfg_file, kind, split):
    data = tmp_path / "data"
    for s in ("train", "val"):
        _copy(splits / "good" / f"{s}.h5", data)
    damage, what = BAD_FILES[kind]
    with h5py.File(data / f"{split}.h5", "r+") as h:
        damage(h)
    r = _train("-c", str(cfg_file), "-d", str(data), "-o", str(tmp_path / "run"), "--max-steps", "1")
    one_line_error(r, 2, f"{split}.h5", what)
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    v = CliRunner().invoke(app, ["validate", str(data / f"{split}.h5")])  # the same verdict, no traceback
    assert v.exit_code == 1 and isinstance(v.exception, SystemExit) and "INVALID" in v.output, v.output


# ---------------------------------------------------------------- item 6: config errors at load
def test_bad_configs_are_one_line_errors_before_training(splits, tmp_path, cfg_file):
    d, out = str(splits / "good"), str(tmp_path / "run")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    one_line_error(_train("-c", str(latin1), "-d", d, "-o", out), 2, "latin1.yaml", "UTF-8")
    one_line_error(_train("-c", str(cfg_file), "-d", d, "-o", out, "--set", "optim.lr=-1"), 2, "optim.lr", "> 0")
    one_line_error(_train("-c", str(cfg_file), "-d", d, "-o", out, "--set", "name.x=1"), 2, "name.x", "name")
    one_line_error(_train("-c", str(cfg_file), "-d", d, "-o", out, "--set", "train.epochs=-5"), 2,
                    "train.epochs", ">= 1")
    one_line_error(_train("-c", str(cfg_file), "-d", d, "-o", out, "--epochs", "0"), 2, "train.epochs")
    negative = tmp_path / "negative.yaml"
    negative.write_text(yaml.safe_dump({**TINY, "optim": {"lr": -1}}))
    one_line_error(_train("-c", str(negative), "-d", d, "-o", out), 2, "negative.yaml", "optim.lr")
    assert not Path(out).exists()  # nothing was started


def test_config_ranges_are_checked_in_from_dict():
    from emoface.utils.config import ConfigError

    for bad, key in (({"optim": {"lr": 0}}, "optim.lr"), ({"optim": {"betas": [0.9, 1.0]}}, "optim.betas[1]"),
                     ({"train": {"batch_size": 0}}, "train.batch_size"), ({"loss": {"cross_weight": -1}}, "cross_weight"),
                     ({"model": {"decoder": {"dropout": 1.0}}}, "decoder.dropout")):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            from_dict(ExperimentConfig, bad, "x.yaml")
    assert from_dict(ExperimentConfig, {"optim": {"grad_clip": None}}).optim.grad_clip is None


# ---------------------------------------------------------------- item 7: interrupted runs
def _killed_before_first_checkpoint(run: Path, cfg: dict) -> None:
    """What a run killed during its first epoch leaves: config.yaml, events/ and a checkpoint temporary."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "events").mkdir()
    (run / "events" / "events.out.tfevents.1.host").write_bytes(b"partial")
    dump_yaml(from_dict(ExperimentConfig, cfg), run / "config.yaml")
    (run / "checkpoints" / ".last.pt.k1ll3d.tmp.pt").write_bytes(b"half a checkpoint")


@pytest.mark.parametrize("how", ["--resume", "rerun"])
def test_run_killed_before_its_first_checkpoint_can_be_continued(splits, tmp_path, cfg_file, how, caplog):
    run = tmp_path / "run"
    _killed_before_first_checkpoint(run, TINY)
    args = ["-d", str(splits / "good"), "-o", str(run), "--max-steps", "1"]
    args += ["--resume"] if how == "--resume" else ["-c", str(cfg_file)]
    with caplog.at_level(logging.WARNING, logger="emoface.train"):
        r = _train(*args)
    assert r.exit_code == 0, r.output
    assert any("before its first checkpoint" in m for m in caplog.messages), caplog.messages
    assert read_checkpoint(run / "checkpoints" / "last.pt")["global_step"] == 1
    assert not list((run / "checkpoints").glob(".*tmp*"))
    assert not (run / "events" / "events.out.tfevents.1.host").exists()


def test_resume_removes_stale_checkpoint_temporaries(splits, tmp_path, cfg_file):
    run = tmp_path / "run"
    d = str(splits / "good")
    assert _train("-c", str(cfg_file), "-d", d, "-o", str(run), "--max-steps", "1").exit_code == 0
    stale = [run / "checkpoints" / ".last.pt.abc123.tmp.pt", run / ".metrics.json.xyz.tmp.json"]
    for p in stale:
        p.write_bytes(b"left by SIGKILL")
    r = _train("-d", d, "-o", str(run), "--resume", "--max-steps", "2")
    assert r.exit_code == 0, r.output
    assert not any(p.exists() for p in stale)
    assert read_checkpoint(run / "checkpoints" / "last.pt")["global_step"] == 2
    # finished work is still never reused or wiped without being asked
    r = _train("-c", str(cfg_file), "-d", d, "-o", str(run))
    one_line_error(r, 2, "--resume", "--overwrite")


# ---------------------------------------------------------------- item 11: no cross-reconstruction pairs
def test_training_without_pairs_drops_the_cross_term(splits, tmp_path, cfg_file, caplog):
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="emoface.train"):
        r = _train("-c", str(cfg_file), "-d", str(splits / "unpaired"), "-o", str(run))
    assert r.exit_code == 0, r.output
    said = [m for m in caplog.messages if "cross-reconstruction" in m]
    assert len(said) == 1 and "without the cross term" in said[0], caplog.messages
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["pairs"]["cross_reconstruction"] is False
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["steps"] for e in metrics["epochs"]] == [2, 2]  # both clips, every epoch
    assert all(e["train"]["cross"] == 0.0 and e["train"]["self"] > 0 for e in metrics["epochs"])
    assert read_checkpoint(run / "checkpoints" / "last.pt")["config"]["pairs"]["cross_reconstruction"] is False
    # asking for the cross term on such data is an error that says why
    r = _train("-c", str(cfg_file), "-d", str(splits / "unpaired"), "-o", str(tmp_path / "run2"),
               "--set", "pairs.cross_reconstruction=true")
    one_line_error(r, 2, "no cross-reconstruction pairs")


def test_data_with_pairs_records_the_cross_term(splits, tmp_path, cfg_file):
    r = _train("-c", str(cfg_file), "-d", str(splits / "good"), "-o", str(tmp_path / "run"), "--max-steps", "1")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["pairs"]["cross_reconstruction"] is True
