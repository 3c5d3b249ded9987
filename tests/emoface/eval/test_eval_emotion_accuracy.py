"""Emotion accuracy of generated motion (issue 16 item 1): the probe, the report column, ``emoface evaluate``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emoface.cli import app
from emoface.data.schema import SplitReader
from emoface.eval.emotion_accuracy import EmotionCall, EmotionProbe, EmotionProbeError, accuracy_summary
from emoface.eval.methods import TemplateFloor, evaluate_methods
from emoface.eval.report import render_markdown, summarize
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split, write_synthetic_splits

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """train: actors 1-3, test: actor 5; emotions neutral, happy, angry; 10 clips per actor
    (neutral only at normal intensity: 2 neutral, 4 happy, 4 angry)."""
    root = tmp_path_factory.mktemp("emo")
    return write_synthetic_splits(root, train_actors=(1, 2, 3), val_actors=(4,), test_actors=(5,), emotions=(0, 2, 4),
                                  statements=(1, 2), base_frames=12)


@dataclass
class TruthThenTemplate:
    """Condition 0: the ground truth itself; condition 1: the template (no motion)."""

    name: str = "truth-then-template"
    description: str = "ground truth under condition 0, template under condition 1"
    conditioned: bool = True

    def predict(self, record, template, speaker):
        return record.vertices.copy() if speaker == 0 else np.broadcast_to(template, record.vertices.shape).copy()


@dataclass
class SwappedEmotion:
    """Every clip's template plus the offsets of another test clip of a fixed other emotion."""

    donor: dict
    name: str = "swapped"
    description: str = "the motion of a clip of another emotion"
    conditioned: bool = False

    def predict(self, record, template, speaker):
        other = self.donor[2] if record.emotion != 2 else self.donor[4]
        n = min(len(other), record.n_frames)
        out = np.broadcast_to(template, record.vertices.shape).copy()
        out[:n] += other[:n]
        out[n:] += other[n - 1]
        return out


def test_accuracy_summary_by_hand():
    calls = [EmotionCall("a", "s0", 2, 2), EmotionCall("b", "s0", 4, 4),  # s0: 2 of 2
             EmotionCall("a", "s1", 2, 2), EmotionCall("b", "s1", 4, 0)]  # s1: 1 of 2
    s = accuracy_summary(calls)
    assert s["per_condition"] == {"s0": 1.0, "s1": 0.5}
    assert s["accuracy"]["mean"] == pytest.approx(0.75) and s["accuracy"]["std"] == pytest.approx(0.25)
    assert s["n_conditions"] == 2 and s["n_clips"] == 2
    assert s["per_emotion"] == {2: 1.0, 4: 0.5}
    assert accuracy_summary([]) is None


def test_probe_ceiling_floor_and_a_wrong_emotion(splits):
    probe = EmotionProbe.fit_split(splits["train"])
    assert probe.classes == (0, 2, 4) and probe.n_train_clips == 30 and probe.n_train_subjects == 3
    assert probe.chance == pytest.approx(1 / 3)
    with SplitReader(splits["test"]) as r:
        tpl = r.template("Actor_05")
        donor = {e: r.read_clip(next(c for c in r.clip_ids if r.clip_meta(c).emotion == e)).vertices - tpl for e in (2, 4)}
        emotions = [r.clip_meta(c).emotion for c in r.clip_ids]
    assert sorted(emotions) == [0] * 2 + [2] * 4 + [4] * 4
    res = evaluate_methods(splits["test"], [TruthThenTemplate(), SwappedEmotion(donor), TemplateFloor()], ["s0", "s1"],
                           emotion_probe=probe)
    s = summarize(res)
    # the fixture's emotions are fixed offset fields: the probe recognises every test mesh
    assert s["emotion_accuracy"]["ceiling"]["accuracy"]["mean"] == 1.0
    truth, swapped, floor = (m["emotion_accuracy"] for m in s["methods"])
    # zero offsets are nearest the neutral centroid (the neutral clips only move the jaw): 2 of 10 clips
    assert {c.predicted for c in res.methods[2].emotion_calls} == {0}
    assert floor["accuracy"]["mean"] == pytest.approx(0.2) and floor["n_conditions"] == 1
    # condition 0 = the truth (1.0), condition 1 = the template (0.2): mean 0.6, std 0.4
    assert truth["per_condition"] == {"s0": 1.0, "s1": pytest.approx(0.2)}
    assert truth["accuracy"]["mean"] == pytest.approx(0.6) and truth["accuracy"]["std"] == pytest.approx(0.4)
    # another emotion's motion is recognised as that emotion, never as the clip's own
    assert swapped["accuracy"]["mean"] == 0.0
    assert {(c.emotion, c.predicted) for c in res.methods[1].emotion_calls} == {(0, 2), (2, 4), (4, 2)}
    md = render_markdown(s)
    assert "| Method | LVE ↓ | EVE ↓ | FDD | emotion acc. ↑ | conditions | description |" in md
    assert "| template only |" in md and "| 0.200 ± 0.000 | 1 |" in md
    assert "| test meshes (emotion ceiling) | – | – | – | 1.000 |" in md
    assert "Ceiling (the test meshes themselves): **1.000**; chance 0.333." in md
    # without a probe, the table keeps its old shape
    md_plain = render_markdown(summarize(evaluate_methods(splits["test"], [TemplateFloor()], ["s0"])))
    assert "emotion acc." not in md_plain and "| Method | LVE ↓ | EVE ↓ | FDD | conditions | description |" in md_plain


def test_probe_refuses_one_emotion_and_other_topology(splits, tmp_path):
    one = write_synthetic_split(tmp_path / "train.h5", SyntheticSpec(actors=(1,), emotions=(2,), intensities=(0,), statements=(1,),
                                                                     base_frames=10))
    with pytest.raises(EmotionProbeError, match=r"train\.h5: the emotion classifier needs clips of at least 2 emotions"):
        EmotionProbe.fit_split(one)
    probe = EmotionProbe.fit_split(splits["train"])
    with pytest.raises(EmotionProbeError, match="topology differs"):
        probe.check_compatible("x.h5", int(probe.indices.max()))


def test_evaluate_cli_reports_the_column(splits, tmp_path):
    """End to end: a tiny run trained for 2 steps, ``emoface evaluate`` on the fixture splits."""
    from emoface.train.config import ExperimentConfig
    from emoface.train.trainer import Trainer
    from emoface.utils.config import load_yaml

    data = splits["train"].parent
    cfg = load_yaml(ExperimentConfig, REPO / "configs" / "emoface-small.yaml",
                    {"name": "tiny", "train.epochs": 1, "train.device": "cpu", "train.threads": 1, "train.val_max_clips": 1,
                     "model.feature_dim": 32, "model.mesh_attention.channels": 4})
    Trainer(cfg, data, tmp_path / "run", max_steps=2).run()
    runner = CliRunner()
    out = tmp_path / "eval"
    base = ["evaluate", "--threads", "1", "--run", str(tmp_path / "run"), "--data", str(data), "--conditions", "1", "--max-clips", "4"]
    res = runner.invoke(app, [*base, "--out", str(out)])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "metrics.json").read_text())
    assert s["emotion_accuracy"]["train_split"] == str(data / "train.h5") and s["emotion_accuracy"]["n_train_clips"] == 30
    run_m, floor = s["methods"]
    assert 0.0 <= run_m["emotion_accuracy"]["accuracy"]["mean"] <= 1.0 and run_m["emotion_accuracy"]["n_clips"] == 4
    assert len(run_m["emotion_calls"]) == 4
    assert "emotion acc." in res.output and "test meshes (emotion ceiling)" in (out / "table.md").read_text()
    # --no-emotion: the old table; a missing --emotion-train: one line, exit 2
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "e2"), "--no-emotion"])
    assert res.exit_code == 0 and "emotion acc." not in (tmp_path / "e2" / "table.md").read_text()
    assert json.loads((tmp_path / "e2" / "metrics.json").read_text())["emotion_accuracy"] is None
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "e3"), "--emotion-train", str(tmp_path / "none.h5")])
    assert res.exit_code == 2 and "none.h5" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1, res.output  # one line, never a wrapped box
