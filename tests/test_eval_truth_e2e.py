"""``emoface evaluate --truth CORPUS`` end to end on a generated corpus (issue 16 item 2).

The golden build (tests/golden.py: ``build-dataset synth`` 2 actors x 2 short clips, then
``build-dataset ravdess``; actor 1 -> train, actor 2 -> val) and one epoch of its narrowed small
preset, then the CLI scores the val split against the corpus's true meshes. This is the check
that the split's clip ids and frame counts line up with the corpus's ground truth as the
pipeline really builds them, and that the fitted data are nearer the truth than no motion.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import golden

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(golden.ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "emoface", *args], cwd=golden.ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("truth_e2e")
    out = golden.build_golden(work)
    golden.train_golden(out, work / "run")
    return work / "corpus", out, work / "run"


def test_evaluate_with_truth_scores_models_floor_and_fitted_data(built, tmp_path):
    corpus, data, run = built
    res = _cli("evaluate", "--run", str(run), "--data", str(data), "--split", "val", "--truth", str(corpus),
               "--out", str(tmp_path / "eval"), "--threads", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["truth"] == str(corpus)
    by = {m["name"]: m["overall"] for m in summary["methods"]}
    assert set(by) == {"run", "template only", "fitted data"}
    for name, o in by.items():
        assert np.isfinite(o["lve_truth"]["mean"]) and np.isfinite(o["eve_truth"]["mean"]), name
    assert by["fitted data"]["lve"]["mean"] == 0.0  # against themselves
    # the fit recovers the lips' motion: its data are nearer the truth than a face that never moves
    assert 0 < by["fitted data"]["lve_truth"]["mean"] < by["template only"]["lve_truth"]["mean"]
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "LVE vs truth ↓ | EVE vs truth ↓" in table and "| fitted data |" in table


def test_evaluate_with_a_truth_of_other_frame_counts_is_one_line_exit_2(built, tmp_path):
    corpus, data, run = built
    bad = tmp_path / "corpus"
    (bad / "ground_truth").mkdir(parents=True)
    for p in sorted((corpus / "ground_truth").glob("*.npz")):
        z = dict(np.load(p))
        np.savez_compressed(bad / "ground_truth" / p.name, **{**z, "vertices": z["vertices"][:-2]})
    res = _cli("evaluate", "--run", str(run), "--data", str(data), "--split", "val", "--truth", str(bad),
               "--out", str(tmp_path / "eval"), "--threads", "1")
    assert res.returncode == 2, res.stdout + res.stderr
    # one line on stderr (emoface.utils.cli.fail), no traceback
    assert "frames, the split's clip" in res.stderr and "Traceback" not in res.stdout + res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1, res.stderr
    assert not (tmp_path / "eval").exists()  # nothing written
