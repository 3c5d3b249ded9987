"""``build-dataset ravdess --detector fan`` end to end on the committed 1 s clip, with the FAN
network on RANDOM weights (test-only setting; nothing can be downloaded here): the plumbing
from detector to split file works and the build says the detector's accuracy is unmeasured."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from buildtest_support import FIXTURE, HERE, make_corpus
from emoface.data.schema import SplitReader, validate_split

pytest.importorskip("face_alignment", reason="the 'fan' extra is not installed (make venv installs it)")

CLIP_ID = "01-01-01-01-01-01-05"
# random landmarks are far from any face the model can make: the divergence guard would
# (rightly) reject the fit, so this test-only config lifts it to see the clip packaged
CONFIG = """landmarks:
  options: {weights: random, face_box: haar, flip_input: false}
fit: {solver: {diverged_iod: 1000.0}}
"""


@pytest.mark.slow
def test_fan_detector_build_end_to_end(tmp_path):
    root = make_corpus(tmp_path / "ravdess", {f"Actor_05/{CLIP_ID}.mp4": FIXTURE})
    out = tmp_path / "out"
    cfg = tmp_path / "fan.yaml"
    cfg.write_text(CONFIG)
    repo = HERE.parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--model", "demo",
           "--detector", "fan", "--config", str(cfg), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy unmeasured" in " ".join(proc.stderr.split())
    track = np.load(out / "work" / "landmarks" / f"{CLIP_ID}.npz")
    assert str(track["scheme"]) == "ibug68" and str(track["detector"]) == "fan"
    assert track["landmarks"].shape == (30, 68, 3) and track["confidence"].shape == (30, 68)
    assert "blendshapes" not in track.files and "transforms" not in track.files
    fit = np.load(out / "work" / "identity" / "Actor_05.npz")
    assert str(fit["embedding"]) == "ibug68"  # the demo head's iBUG-68 embedding, not the MediaPipe one
    assert validate_split(out / "train.h5") == []
    with SplitReader(out / "train.h5") as r:
        rec = r.read_clip(CLIP_ID, landmarks=True)
        assert rec.landmarks.shape == (30, 68, 3) and rec.vertices.shape[0] == 30
    report = json.loads((out / "qa" / "report.json").read_text())
    assert any("accuracy unmeasured" in n for n in report["summary"]["notes"])
    assert "accuracy unmeasured" in (out / "qa" / "report.html").read_text()
    summary = json.loads((out / "build.json").read_text())
    assert any("accuracy unmeasured" in n for n in summary["notes"])


def test_fan_detector_offline_is_one_line_exit_2(tmp_path):
    """Pretrained weights that cannot be fetched: exit 2 and one line naming the cause, before any work."""
    root = make_corpus(tmp_path / "ravdess", {f"Actor_05/{CLIP_ID}.mp4": FIXTURE})
    repo = HERE.parents[2]
    cfg = tmp_path / "fan.yaml"
    cfg.write_text("landmarks:\n  options: {face_box: haar}\n")
    env = {**os.environ, "PYTHONPATH": str(repo), "TORCH_HOME": str(tmp_path / "torch"),
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out",
                           str(tmp_path / "out"), "--detector", "fan", "--config", str(cfg), "--no-progress"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=repo)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "could not download its 2DFAN-4 weights" in lines[0] and "Traceback" not in proc.stderr
