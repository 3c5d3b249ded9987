"""The real fitter with two worker processes, the whole command SIGKILLed at fixed moments, then rerun:
the split files equal an uninterrupted build's, array for array.

The moments are not random: the first time right after the first stage artefact appears on disk
(before its sidecar can be written), the second time right after the first ``fit`` sidecar appears
(a real fit is finished and recorded; the rerun must continue from the saved fit, not redo it). Each kill takes the
whole process group (the command, its worker processes and multiprocessing's resource tracker).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from buildtest_support import FIXTURE, HERE, datasets, make_corpus

REPO = HERE.parents[2]
# two actors (train and val), so that two identities and two fits run side by side
CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4")


def _artefacts(work: Path, stage: str = "*", kind: str = ".npz") -> list[Path]:
    return [p for p in work.glob(f"{stage}/*{kind}") if not p.name.startswith(".")]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_when(command: list[str], env: dict[str, str], ready, timeout: float = 300) -> None:
    """Start ``command`` in its own process group; SIGKILL the whole group as soon as ``ready()`` is true."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f"the build ended (exit {proc.returncode}) before the moment to kill it"
            assert time.monotonic() < deadline, "the moment to kill the build never came"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:  # workers die with the group
        time.sleep(0.05)
    assert not _group_alive(proc.pid), "processes of the killed build are still alive"


def test_real_fitter_two_workers_sigkill_then_rerun_gives_the_same_files(tmp_path):
    root = make_corpus(tmp_path / "ravdess", {c: FIXTURE for c in CLIPS})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--model", "demo",
                "--workers", "2"]

    ref = subprocess.run(command(tmp_path / "ref"), env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert "2/2 clips built" in ref.stderr

    out = tmp_path / "killed"
    work = out / "work"
    _kill_when(command(out), env, lambda: bool(_artefacts(work)))
    first = _artefacts(work)
    assert first and not (out / "train.h5").exists()
    _kill_when(command(out), env, lambda: bool(_artefacts(work, "fit", ".sidecar.json")))
    assert not (out / "train.h5").exists()
    assert len(_artefacts(work, "canonical")) < 2, "killed too late: every clip was already finished"

    again = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2/2 clips built" in again.stderr

    for split in ("train", "val"):
        a, b = datasets(tmp_path / "ref" / f"{split}.h5"), datasets(out / f"{split}.h5")
        assert sorted(a) == sorted(b) and any(name.endswith("vertices") for name in a), split
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{split}:{name}")
    assert not (out / "test.h5").exists() and not (tmp_path / "ref" / "test.h5").exists()
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files if ".tmp" in f]
    assert leftovers == []
