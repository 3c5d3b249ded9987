"""The same build on every executor gives the same split files; --gpus stops at once without GPUs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import BACKEND, HERE, make_corpus
from pipeline.build import build_ravdess, make_executor
from pipeline.executors import local
from pipeline.stages.config import BuildConfig
from pipeline.stages.runtime import TaskContext

CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_01/01-01-03-02-01-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4")


def datasets(path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def assert_same_splits(a, b) -> None:
    for split in ("train", "val"):
        da, db = datasets(a / f"{split}.h5"), datasets(b / f"{split}.h5")
        assert sorted(da) == sorted(db)
        for name in da:
            np.testing.assert_array_equal(da[name], db[name], err_msg=f"{split}:{name}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, media):
    root = make_corpus(tmp_path_factory.mktemp("exec") / "ravdess", {c: media["good"] for c in CLIPS})
    ref = root.parent / "ref"
    s = build_ravdess(root, ref, BuildConfig(backend=BACKEND))
    assert s.exit_code == 0 and s.n_ok == 3 and not s.failures
    return root, ref


def test_two_local_worker_processes(corpus, tmp_path):
    root, ref = corpus
    s = build_ravdess(root, tmp_path / "out", BuildConfig(backend=BACKEND), workers=2)
    assert s.exit_code == 0 and "2 local worker" in s.executor
    assert_same_splits(ref, tmp_path / "out")


def test_a_dying_worker_fails_its_clip_only(tmp_path, media):
    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS[:2]})
    cfg = BuildConfig(backend=BACKEND, backend_options={"crash": ["01-01-03-02-01-01-01"]})
    s = build_ravdess(root, tmp_path / "out", cfg, workers=2)
    assert s.exit_code == 1 and s.n_ok == 1
    assert [(f.clip_id, f.stage, f.reason) for f in s.failures] == [
        ("01-01-03-02-01-01-01", "fit", "worker process died (killed or crashed) while running this task")]
    with h5py.File(tmp_path / "out" / "train.h5") as f:
        assert list(f["clips"]) == ["01-01-03-01-01-01-01"]


def test_too_few_gpus_stop_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr(local, "count_gpus", lambda: 0)
    with pytest.raises(local.GPUError, match=r"^requested 2 GPUs, found 0; use --workers N$"):
        make_executor("local", gpus=2)
    # the command line says the same and exits with 2 before touching anything
    root = tmp_path / "ravdess"
    root.mkdir()
    code = "import sys; from pipeline.executors import local; local.count_gpus = lambda: 0; from pipeline.cli import main; sys.argv[0] = 'build-dataset'; main()"
    proc = subprocess.run([sys.executable, "-c", code, "ravdess", "--root", str(root), "--out", str(tmp_path / "out"), "--gpus", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "requested 2 GPUs, found 0; use --workers N" in proc.stderr


def test_gpu_workers_get_one_device_each(tmp_path):
    """With --gpus 2, fit tasks run in two processes, each handing its own device to its tasks."""
    ex = local.ProcessExecutor(workers=1, gpus=2)
    ctx = TaskContext(str(tmp_path), BuildConfig())
    meet = tmp_path / "meet"
    meet.mkdir()
    try:
        futs = [ex.submit("fit", _pid_and_device, ctx, str(meet)) for _ in range(6)]
        results = [f.result(timeout=120) for f in futs]
    finally:
        ex.close()
    by_process: dict[int, set[str]] = {}
    for pid, device in results:
        by_process.setdefault(pid, set()).add(device)
    # two fitting processes, each always handing out one device, and not the same one
    assert len(by_process) == 2, by_process
    assert sorted(d for devices in by_process.values() for d in devices) == ["cuda:0", "cuda:1"], by_process


def _pid_and_device(ctx, meet: str) -> tuple[int, str]:
    """Each process's first task waits until the other process has one too, so both fitting workers take tasks."""
    import os
    import time
    from pathlib import Path

    Path(meet, str(os.getpid())).write_text(ctx.device)
    deadline = time.monotonic() + 60
    while len(os.listdir(meet)) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only one fitting process ran tasks: {os.listdir(meet)}")
        time.sleep(0.01)
    return os.getpid(), ctx.device


def test_inline_command_exit_codes(corpus, tmp_path):
    """The command's exit code is 0 when nothing failed and 1 when an input is bad."""
    root, ref = corpus
    shutil.copytree(ref, tmp_path / "out")  # its artefacts are reused: only the split is packaged again
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"backend: {BACKEND}\n")
    env_path = str(HERE)
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(tmp_path / "out"), "--config", str(cfg), "--actors", "1"]
    env = {**__import__("os").environ, "PYTHONPATH": env_path}
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "2/2 clips built" in ok.stderr
    (root / "Actor_01" / "01-01-08-01-01-01-01.mp4").write_bytes(b"")
    try:
        bad = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    finally:
        (root / "Actor_01" / "01-01-08-01-01-01-01.mp4").unlink()
    assert bad.returncode == 1 and "zero-byte file" in bad.stderr
