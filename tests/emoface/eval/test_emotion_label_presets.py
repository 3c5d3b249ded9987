"""The presets' emotion-label embedding (issue 16 item 4) and what a run trained without it does
when asked for a label: ``animate --emotion`` and ``evaluate --use-labels`` fail with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from emoface.cli import app
from emoface.eval import AnimateError, animate, evaluate
from emoface.train import train
from emoface.train.config import ExperimentConfig
from emoface.utils.config import load_yaml
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from tools.testing.experiments import tiny_experiment

ROOT = Path(__file__).resolve().parents[3]


def test_paper_preset_conditions_on_audio_alone_and_small_keeps_the_extension():
    paper = load_yaml(ExperimentConfig, ROOT / "configs" / "emoface-paper.yaml")
    small = load_yaml(ExperimentConfig, ROOT / "configs" / "emoface-small.yaml")
    assert paper.model.emotion_label.enabled is False  # paper §3.1: audio, speaker, intensity only
    assert paper.model.mesh_attention.dilation == 2  # Table 4 row 4: a moderate dilation (docs/model.md)
    assert small.model.emotion_label.enabled is True  # the demo's `animate --emotion angry` needs it
    # the single-branch baseline built from the paper preset has no label either
    sb = load_yaml(ExperimentConfig, ROOT / "configs" / "emoface-paper.yaml", {"model.single_branch": True})
    assert sb.model.single_branch and not sb.model.emotion_label.enabled


@pytest.fixture(scope="module")
def unlabelled_run(tmp_path_factory) -> tuple[Path, Path]:
    import torch

    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("nolabel")
    data = root / "data"
    write_synthetic_split(data / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0,),
                                                           statements=(1,), base_frames=10))
    write_synthetic_split(data / "test.h5", SyntheticSpec(actors=(5,), emotions=(0,), intensities=(0,),
                                                          statements=(1,), base_frames=10, seed=2))
    cfg = tiny_experiment("nolabel", width=16, model={"mesh_attention": {"channels": 2}, "emotion_label": {"enabled": False}},
                          optim=None)
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    train(root / "cfg.yaml", data, root / "run", max_steps=1)
    yield root / "run", data
    torch.set_num_threads(threads)


def test_animate_with_an_emotion_on_a_run_without_labels_is_one_line(unlabelled_run, tmp_path):
    run, _data = unlabelled_run
    wav = tmp_path / "speech.wav"
    sf.write(str(wav), (0.2 * np.sin(np.arange(8000) / 16000 * 2 * np.pi * 200)).astype(np.float32), 16000)
    with pytest.raises(AnimateError, match="no emotion-label embedding"):
        animate(run, wav, emotion="happy")
    res = CliRunner().invoke(app, ["animate", "--run", str(run), "--audio", str(wav), "--out", str(tmp_path / "o"),
                                   "--emotion", "happy", "--no-video"])
    assert res.exit_code == 1 and "no emotion-label embedding" in res.output and "Traceback" not in res.output
    assert animate(run, wav).vertices.ndim == 3  # from the audio alone it works


def test_evaluate_use_labels_on_a_run_without_labels_fails_before_any_clip(unlabelled_run):
    run, data = unlabelled_run
    seen = []
    with pytest.raises(ValueError, match="use_labels .*trained without it"):
        evaluate(run, data, "test", conditions=1, use_labels=True, progress=lambda *a: seen.append(a))
    assert seen == []
