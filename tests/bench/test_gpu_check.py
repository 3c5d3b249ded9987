"""``python -m bench.gpu_check`` imports, and without a CUDA device stops with one line and exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def test_imports_and_lists_its_parts():
    from bench import gpu_check

    assert gpu_check.PARTS == ("build", "train", "inference", "faceformer")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: the check would run")
def test_no_cuda_device_is_one_clear_line_and_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--out", str(tmp_path / "r.json")], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and "Warning" not in ln]
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no CUDA device visible"), p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "r.json").exists()
