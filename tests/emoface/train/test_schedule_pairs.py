"""Self-growing schedule probabilities and mixing; cross-reconstruction pair rules; losses."""

import math
from types import SimpleNamespace

import pytest
import torch

from emoface.model.emoface import Offsets
from emoface.train.config import LossConfig, ScheduleConfig
from emoface.train.losses import pair_losses
from emoface.train.pairs import find_partners
from emoface.train.schedule import draw_uniform, gt_probability, mix_inputs


@pytest.mark.parametrize("epochs,theta", [(200, 20), (30, 5), (10, 0), (7, 3)])
def test_gt_probability_phases(epochs, theta):
    for n in range(theta):
        assert gt_probability(n, epochs, theta) == 1.0
    assert gt_probability(theta, epochs, theta) == 1.0
    half = (epochs + theta) / 2
    for n in range(epochs):
        p = gt_probability(n, epochs, theta)
        assert 0.0 <= p <= 1.0
        if n >= half:
            assert p == 0.0 or abs(p) < 1e-12, (n, p)
        elif n > theta:
            assert 0.0 < p < 1.0
            assert p == pytest.approx(math.cos(math.pi * (n - theta) / (epochs - theta)))
    ps = [gt_probability(n, epochs, theta) for n in range(epochs)]
    assert ps == sorted(ps, reverse=True)


def test_mixing_per_frame_and_per_sequence():
    gen = torch.Generator().manual_seed(0)
    gt, pred = torch.zeros(4, 500, 2, 3), torch.ones(4, 500, 2, 3)
    u = draw_uniform(4, 500, ScheduleConfig(draw="frame"), gen)
    mixed, use_gt = mix_inputs(gt, pred, u, 0.3)
    assert 0.2 < use_gt.float().mean() < 0.4
    torch.testing.assert_close(mixed[:, :, 0, 0], (~use_gt).float())
    assert mix_inputs(gt, pred, u, 1.0)[1].all() and not mix_inputs(gt, pred, u, 0.0)[1].any()
    us = draw_uniform(4, 500, ScheduleConfig(draw="sequence"), gen)
    assert (us == us[:, :1]).all()


def test_pairs_same_subject_statement_repetition_different_emotion():
    def m(subject, emotion, intensity, statement, repetition):
        return SimpleNamespace(subject=subject, emotion=emotion, intensity=intensity, statement=statement,
                               repetition=repetition)

    metas = [m("A", 0, 0, 1, 1), m("A", 2, 0, 1, 1), m("A", 2, 1, 1, 1), m("A", 3, 1, 1, 2), m("B", 3, 0, 1, 1),
             m("A", 4, 1, 2, 1)]
    p = find_partners(metas)
    assert p[0] == [1, 2] and p[1] == [0] and p[2] == [0]
    assert p[3] == [] and p[4] == [] and p[5] == []
    assert find_partners(metas, match_intensity=True)[2] == []


def test_losses_are_means_and_weighted():
    gt = torch.zeros(1, 4, 2, 3)
    pred = torch.full((1, 4, 2, 3), 0.001)
    out = Offsets(pred, pred, pred)
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    t = pair_losses(out, gt, out, gt, logits, torch.tensor([0, 1]), LossConfig())
    assert t.terms["self"].item() == pytest.approx(0.003)
    assert t.terms["cross"].item() == pytest.approx(0.003)
    assert t.terms["velocity"].item() == pytest.approx(0.0)
    ce = -math.log(math.exp(5) / (math.exp(5) + 1))
    assert t.terms["classification"].item() == pytest.approx(ce, rel=1e-5)
    assert t.total.item() == pytest.approx(1000 * 0.003 * 2 + 1e-4 * ce, rel=1e-5)
    single = pair_losses(Offsets(pred, None, pred), gt, Offsets(pred, None, pred), gt, None, None, LossConfig())
    assert single.terms["self"].item() == pytest.approx(0.001)


def test_run_folder_rules(tmp_path):
    from emoface.train.workflow import RunFolderError, parse_overrides, prepare_run_dir

    run = tmp_path / "run"
    prepare_run_dir(run, resume=False, overwrite=False)  # a new folder is fine
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="--overwrite"):
        prepare_run_dir(run, resume=False, overwrite=False)
    assert prepare_run_dir(run, resume=True, overwrite=False) is True
    assert prepare_run_dir(run, resume=False, overwrite=True) is False
    assert not (run / "checkpoints").exists() and (run / "notes.txt").read_text() == "mine"
    # no checkpoint yet: --resume starts from scratch (tests/emoface/train/test_train_failures.py)
    assert prepare_run_dir(run, resume=True, overwrite=False) is False
    assert parse_overrides(["train.epochs=3", "model.fusion=add", "optim.grad_clip=null"]) == {
        "train.epochs": 3, "model.fusion": "add", "optim.grad_clip": None}
