"""SIGKILL the build command at random moments, rerun it: the split files equal an uninterrupted build's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from buildtest_support import BACKEND, HERE, datasets, make_corpus

CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_01/01-01-06-02-02-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4",
         "Actor_23/01-01-02-01-02-02-23.mp4")


def test_sigkill_at_random_moments_then_rerun_gives_the_same_files(tmp_path, media):
    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"backend: {BACKEND}\n")
    env = {**os.environ, "PYTHONPATH": str(HERE)}

    def command(out):
        return [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--config", str(cfg)]

    t0 = time.perf_counter()
    ref = subprocess.run(command(tmp_path / "ref"), env=env, capture_output=True, text=True, timeout=300)
    full = time.perf_counter() - t0
    assert ref.returncode == 0, ref.stderr[-2000:]

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    out = tmp_path / "killed"
    for _ in range(2):
        proc = subprocess.Popen(command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.2, 0.9 * full)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    again = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, f"seed {seed}: {again.stderr[-2000:]}"

    for split in ("train", "val", "test"):
        a, b = datasets(tmp_path / "ref" / f"{split}.h5"), datasets(out / f"{split}.h5")
        assert sorted(a) == sorted(b), f"seed {seed}"
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"seed {seed}: {split}:{name}")
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files if ".tmp" in f]
    assert leftovers == [], f"seed {seed}"
