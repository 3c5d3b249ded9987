"""`emoface.train.train` called from Python (no CLI): its result, resume, and its typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from tools.testing.experiments import flat_overrides, tiny_experiment
from emoface.train import RunFolderError, TrainResult, train
from emoface.train.config import ExperimentConfig
from emoface.utils.config import ConfigError, load_yaml

TINY = tiny_experiment("tiny-api", train={"batch_size": 2})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_api") / "data"
    write_synthetic_split(root / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0, 1),
                                                           statements=(1,), base_frames=12))
    write_synthetic_split(root / "val.h5", SyntheticSpec(actors=(3,), emotions=(0,), intensities=(0,),
                                                         statements=(1,), base_frames=12, seed=1))
    return root


def test_train_then_resume_returns_typed_results(data, tmp_path):
    yaml_path = tmp_path / "tiny.yaml"
    yaml_path.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    first = train(yaml_path, data, run, max_steps=1)
    assert isinstance(first, TrainResult)
    assert (first.run_dir, first.global_step, first.stopped_early, first.resumed, first.is_main) == (run, 1, True, False, True)
    assert first.config.name == "tiny-api" and first.config.train.batch_size == 2
    assert first.best_epoch == -1 and first.epochs == []  # stopped inside the first epoch
    assert (run / "checkpoints" / "last.pt").is_file()

    second = train(None, data, run, resume=True)  # the run's saved config.yaml wins
    metrics = json.loads((run / "metrics.json").read_text())
    assert second.resumed and not second.stopped_early
    assert second.global_step == metrics["global_step"] == 2  # 4 training clips in batches of 2
    assert metrics["epochs"][0]["steps"] == 1  # the step left after the resumed checkpoint
    assert second.best_epoch == 0 and second.best_val_lve == pytest.approx(metrics["epochs"][0]["val"]["lve"])
    assert second.epochs == metrics["epochs"] and second.config.model.feature_dim == 32


def test_config_object_and_overrides(data, tmp_path):
    cfg = load_yaml(ExperimentConfig, None, {k: v for k, v in flat_overrides(TINY).items()})
    result = train(cfg, data, tmp_path / "obj", overrides={"model.fusion": "add"}, epochs=1, max_steps=1)
    saved = yaml.safe_load((tmp_path / "obj" / "config.yaml").read_text())
    assert result.config.model.fusion == saved["model"]["fusion"] == "add"
    # resuming with a config that differs from the run's (beyond epochs/device) is refused
    with pytest.raises(ConfigError, match="differs from the run's"):
        train(cfg, data, tmp_path / "obj", resume=True)


def test_run_folder_rules_are_typed_errors(data, tmp_path):
    run = tmp_path / "run"
    train(_cfg(), data, run, max_steps=1)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(RunFolderError, match="--resume to continue it or --overwrite"):
        train(_cfg(), data, run, max_steps=1)
    assert (run / "checkpoints" / "last.pt").read_bytes() == before  # finished work untouched
    assert train(_cfg(), data, run, overwrite=True, max_steps=1).global_step == 1


def _cfg() -> ExperimentConfig:
    return load_yaml(ExperimentConfig, None, flat_overrides(TINY))


def test_resume_may_change_the_options_that_change_no_result(data, tmp_path):
    """Adam's kernel and the memory options may change when a run resumes (they change no result beyond
    float rounding); other keys stay the run's, and a preset that differs only in them is not refused."""
    from emoface.train.workflow import resolve_config

    run = tmp_path / "run"
    train(_cfg(), data, run, max_steps=1)
    cfg, _ = resolve_config(None, run, True, {"optim.fused": True, "train.malloc_release": "trim",
                                              "model.feature_dim": 64})
    assert cfg.optim.fused and cfg.train.malloc_release == "trim"
    assert cfg.model.feature_dim == _cfg().model.feature_dim  # not a resumable key: the run's value
    preset = load_yaml(ExperimentConfig, None, {**flat_overrides(TINY), "optim.fused": True})
    assert resolve_config(preset, run, True, {})[0].optim.fused is False  # the run's config.yaml wins
    result = train(None, data, run, resume=True, overrides={"optim.fused": True})
    assert result.resumed and result.config.optim.fused
