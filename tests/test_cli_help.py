"""Both console scripts answer --help."""

from __future__ import annotations

import subprocess
import sys


def test_emoface_help():
    out = subprocess.run([sys.executable, "-m", "emoface", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "validate" in out.stdout


def test_build_dataset_help():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "build-dataset" in out.stdout or "Usage" in out.stdout
