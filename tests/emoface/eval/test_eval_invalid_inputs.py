"""`emoface evaluate` and `emoface animate` run the checks of `emoface validate` first (issue 13, 2.4).

A split file that `emoface validate` rejects, or a checkpoint whose regions lie outside its
topology (a run trained on such a file before the checks existed), ends with one line naming
the file and the problem and exit 2, before any prediction.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from tools.testing.cli import one_line_error
from tools.testing.experiments import tiny_experiment
from emoface.train.checkpoint import read_checkpoint, save_checkpoint

TINY = tiny_experiment()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("eval_invalid")
    data = root / "data"
    write_synthetic_split(data / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0,),
                                                           statements=(1,), base_frames=16))
    write_synthetic_split(data / "test.h5", SyntheticSpec(actors=(5,), emotions=(0, 2), intensities=(0,),
                                                          statements=(1,), base_frames=16, seed=2))
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    r = CliRunner().invoke(app, ["train", "-c", str(cfg), "-d", str(data), "-o", str(root / "run"), "--max-steps", "1"])
    assert r.exit_code == 0, r.output
    return root / "run", data


def _int16_vertices(h: h5py.File) -> None:
    cid = sorted(h["clips"])[0]
    v = h[f"clips/{cid}/vertices"][()]
    del h[f"clips/{cid}/vertices"]
    h[f"clips/{cid}/vertices"] = (v * 1000).astype(np.int16)


def _string_emotion(h: h5py.File) -> None:
    h[f"clips/{sorted(h['clips'])[0]}"].attrs["emotion"] = "happy"


@pytest.mark.parametrize("damage,what", [(_int16_vertices, "float32"), (_string_emotion, "emotion")])
def test_evaluate_refuses_a_split_that_validate_rejects(trained, tmp_path, damage, what):
    run, data = trained
    bad = tmp_path / "test.h5"
    shutil.copy(data / "test.h5", bad)
    with h5py.File(bad, "r+") as h:
        damage(h)
    r = CliRunner().invoke(app, ["evaluate", "--run", str(run), "--data", str(bad), "--out", str(tmp_path / "rep"),
                                 "--threads", "1"])
    one_line_error(r, 2, str(bad), what, alone=True)
    assert not (tmp_path / "rep").exists()


def test_animate_refuses_a_checkpoint_with_a_region_outside_its_topology(trained, tmp_path):
    run, _ = trained
    bad_run = tmp_path / "run"
    shutil.copytree(run, bad_run)
    ckpt = bad_run / "checkpoints" / "last.pt"
    state = read_checkpoint(ckpt)
    state["meta"]["regions"]["lips"][0] = 100000  # what training on a split with a bad region used to store
    save_checkpoint(ckpt, {k: v for k, v in state.items() if k not in ("format", "version")})
    wav = tmp_path / "speech.wav"
    sf.write(str(wav), (0.1 * np.sin(np.arange(8000) * 0.05)).astype(np.float32), 16000)
    r = CliRunner().invoke(app, ["animate", "--run", str(bad_run), "--audio", str(wav), "--out", str(tmp_path / "out"),
                                 "--no-video", "--threads", "1"])
    one_line_error(r, 2, "last.pt", "lips", alone=True)
    assert not (tmp_path / "out").exists()
    r = CliRunner().invoke(app, ["evaluate", "--run", str(bad_run), "--data", str(trained[1]), "--threads", "1"])
    one_line_error(r, 2, "last.pt", "lips", alone=True)


def test_animate_refuses_a_data_file_that_validate_rejects(trained, tmp_path):
    run, data = trained
    bad = tmp_path / "test.h5"
    shutil.copy(data / "test.h5", bad)
    with h5py.File(bad, "r+") as h:
        _int16_vertices(h)
    wav = tmp_path / "speech.wav"
    sf.write(str(wav), (0.1 * np.sin(np.arange(8000) * 0.05)).astype(np.float32), 16000)
    r = CliRunner().invoke(app, ["animate", "--run", str(run), "--audio", str(wav), "--out", str(tmp_path / "out"),
                                 "--subject", "Actor_05", "--data", str(bad), "--no-video", "--threads", "1"])
    one_line_error(r, 2, str(bad), "float32", alone=True)
