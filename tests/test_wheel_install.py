"""A non-editable install (a built wheel) has the default configs, and the code finds them there."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter whose only copy of emoface/pipeline is the installed wheel.
PROBE = r"""
import json, sys
from pathlib import Path
import emoface, pipeline
from emoface.utils.resources import config_file, configs_dir
from emoface.utils.config import load_yaml
from emoface.train.config import ExperimentConfig
from pipeline.stages.config import load_build_config, load_split
from pipeline.sources.synth.config import SynthConfig
from pipeline.demo import plan_demo
loaded = {
    "split-paper.yaml": load_split(config_file("split-paper.yaml")).test,
    "split-demo.yaml": load_split(config_file("split-demo.yaml")).test,
    "ravdess.yaml": load_build_config(config_file("ravdess.yaml")).model,
    "emoface-small.yaml": load_yaml(ExperimentConfig, config_file("emoface-small.yaml")).name,
    "emoface-paper.yaml": load_yaml(ExperimentConfig, config_file("emoface-paper.yaml")).name,
    "synth.yaml": load_yaml(SynthConfig, config_file("synth.yaml")).width,
}
demo = plan_demo(Path(sys.argv[1]) / "demo")
from pipeline.sources.synth.photoset import photos_dir
print(json.dumps({"photos": {p.name: p.stat().st_size for p in photos_dir().iterdir()}, "photos_dir": str(photos_dir()),"emoface": emoface.__file__, "pipeline": pipeline.__file__, "configs": str(configs_dir()),
                  "files": {p.name: p.read_text() for p in configs_dir().glob("*.yaml")},
                  "loaded": {k: str(v) for k, v in loaded.items()},
                  "demo_argv": [a for s in demo.steps for a in s.argv]}))
"""


def _tracked_sources(dest: Path) -> None:
    """Copy what the wheel is built from (tracked and new files, not build outputs) to ``dest``."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "emoface", "pipeline", "configs", "setup.py", "pyproject.toml", "README.md", "LICENSE"],
                            cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.strip()}): cannot tell the sources from build outputs")
    for rel in listed.stdout.splitlines():
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.mark.slow
def test_wheel_ships_the_default_configs(tmp_path):
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: cannot build a wheel without build isolation")
    src, dist, site = tmp_path / "src", tmp_path / "dist", tmp_path / "site"
    src.mkdir()
    _tracked_sources(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("emoface3d-*.whl")
    inst = subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]

    # a fresh interpreter, outside the checkout, that imports the installed copy first
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-2000:]
    got = json.loads(probe.stdout)
    assert Path(got["emoface"]).is_relative_to(site) and Path(got["pipeline"]).is_relative_to(site)
    assert Path(got["configs"]) == site / "emoface" / "configs"
    shipped = {p.name: p.read_text() for p in (ROOT / "configs").glob("*.yaml")}
    assert got["files"] == shipped  # every config, byte for byte: the wheel's copy is configs/
    assert got["loaded"]["split-paper.yaml"] == "[23, 24]" and got["loaded"]["emoface-small.yaml"] == "emoface-small"
    assert str(site / "emoface" / "configs" / "split-demo.yaml") in got["demo_argv"]
    # the generator's face photographs and their provenance ship in the package
    photos = ROOT / "pipeline" / "sources" / "synth" / "photos"
    assert Path(got["photos_dir"]).is_relative_to(site)
    assert got["photos"] == {p.name: p.stat().st_size for p in photos.iterdir()} and "grace_hopper.jpg" in got["photos"]
