"""``optim.lr_schedule: cosine``: the learning rate decays to 0 by the last step, also across a resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from emoface.train import train
from emoface.train.config import ExperimentConfig
from emoface.train.schedule import cosine_lr
from emoface.utils.config import ConfigError, load_yaml
from tools.testing.experiments import flat_overrides, tiny_experiment
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lr") / "data"
    write_synthetic_split(root / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0, 1),
                                                           statements=(1,), base_frames=12))
    return root


def _cfg(schedule: str) -> ExperimentConfig:
    return load_yaml(ExperimentConfig, None, {"optim.lr_schedule": schedule, "optim.lr": 1e-3, "train.epochs": 3,
                                              "train.batch_size": 2, **{k: v for k, v in flat_overrides(tiny_experiment("lr")).items()
                                                                       if not k.startswith(("optim.lr", "train.epochs", "train.batch_size"))}})




def test_cosine_by_hand():
    assert cosine_lr(1e-3, 0, 10) == 1e-3 and cosine_lr(1e-3, 10, 10) == 0.0
    assert cosine_lr(1e-3, 5, 10) == pytest.approx(5e-4) and cosine_lr(1e-3, 3, 0) == 1e-3
    assert cosine_lr(2.0, 1, 4) == pytest.approx(1.0 + math.cos(math.pi / 4))


def test_a_run_decays_and_a_resumed_run_continues_the_decay(data, tmp_path):
    """Per epoch the lr of its last step; 2 steps per epoch x 3 epochs = 6 steps; the stopped-and-resumed run
    reaches the same rates as the uninterrupted one (the rate is a function of the step, no saved state)."""
    whole = train(_cfg("cosine"), data, tmp_path / "whole")
    lrs = [e["lr"] for e in whole.epochs]
    assert lrs == pytest.approx([cosine_lr(1e-3, s, 6) for s in (1, 3, 5)])
    train(_cfg("cosine"), data, tmp_path / "cut", max_steps=3)
    train(_cfg("cosine"), data, tmp_path / "cut", resume=True)
    cut = json.loads((tmp_path / "cut" / "metrics.json").read_text())["epochs"]
    assert [e["lr"] for e in cut] == pytest.approx(lrs)
    const = train(_cfg("constant"), data, tmp_path / "const")
    assert [e["lr"] for e in const.epochs] == [1e-3] * 3


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ConfigError, match="lr_schedule"):
        _cfg("linear")


@pytest.mark.parametrize("epochs, theta, warned", [(2, 1, True), (3, 1, False), (1, 0, True), (6, 5, True), (7, 5, False)])
def test_a_warm_up_that_never_ends_is_warned_about(data, tmp_path, caplog, epochs, theta, warned):
    """p_gt(theta) = cos 0 = 1: a self-growing run of theta + 1 epochs or fewer is teacher-forced throughout."""
    from emoface.train.schedule import gt_probability

    assert (min(gt_probability(e, epochs, theta) for e in range(epochs)) == 1.0) is warned
    cfg = load_yaml(ExperimentConfig, None, {**flat_overrides(tiny_experiment("warm")), "train.epochs": epochs,
                                             "schedule.theta": theta})
    with caplog.at_level("WARNING", logger="emoface.train"):
        train(cfg, data, tmp_path / "run", max_steps=1)
    assert any("never leaves teacher forcing" in r.getMessage() for r in caplog.records) is warned
