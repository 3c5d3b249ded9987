"""The build config's fit, smooth and QA sections are typed: checked at load, written fully resolved."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import HERE, make_corpus
from emoface.utils.config import ConfigError
from pipeline.stages.config import BuildConfig, load_build_config

ROOT = HERE.parents[2]


@pytest.mark.parametrize("section, body, message", [
    ("fit", "fit:\n  noise_iodd: 0.02\n", "fit: unknown key(s) noise_iodd"),
    ("smooth", "smooth:\n  jaw: {process_std: fast}\n", "smooth.jaw.process_std: expected a number"),
    ("qa", "qa:\n  max_jitter: 1.0\n", "qa: unknown key(s) max_jitter"),
    ("backend_options", "backend_options: {diverge: [x]}\n", "DefaultBackend takes no options"),
])
def test_a_bad_section_key_fails_at_load_with_one_line(tmp_path, media, section, body, message):
    cfg = tmp_path / "ravdess.yaml"
    cfg.write_text(body)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_build_config(cfg)
    root = make_corpus(tmp_path / "ravdess", {"Actor_01/01-01-03-01-01-01-01.mp4": media["good"]})
    r = subprocess.run([sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(tmp_path / "out"),
                        "--config", str(cfg)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(HERE)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and str(cfg) in r.stderr and message in r.stderr
    assert not (tmp_path / "out" / "work").exists()  # nothing ran


def test_the_run_writes_the_fully_resolved_config(tmp_path, media):
    from pipeline.build import build_ravdess
    from pipeline.fitting.config import FitConfig

    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("backend: buildtest_backend:DetectorBackend\nfit: {camera: {fov_y_deg: 30.0}}\n")
    cfg = load_build_config(cfg_file)
    assert isinstance(cfg.fit, FitConfig) and cfg.fit.camera.fov_y_deg == 30.0 and cfg.fit.landmarks.noise_iod == FitConfig().landmarks.noise_iod
    root = make_corpus(tmp_path / "ravdess", {"Actor_01/01-01-03-01-01-01-01.mp4": media["good"]})
    build_ravdess(root, tmp_path / "out", cfg)
    text = (tmp_path / "out" / "config.yaml").read_text()
    assert "noise_iod: 0.01" in text and "max_jitter_mm:" in text and "process_std:" in text  # defaults written too
    assert load_build_config(tmp_path / "out" / "config.yaml") == cfg  # and it reads back as the same config


def test_default_config_file_loads_typed():
    cfg = load_build_config(ROOT / "configs" / "ravdess.yaml")
    assert cfg == BuildConfig(decode=cfg.decode, landmarks=cfg.landmarks) and type(cfg.qa).__name__ == "QAConfig"
