"""``--executor ray`` on a private local Ray instance builds the same split files as the local executor,
and shuts Ray down afterwards: none of the processes it started (GCS, raylet, agents, workers) is left.

Ray is part of the test dependencies (``make test`` installs the ``cluster`` extra), so this test
fails rather than skips when it is missing: a skipped test would still count towards the CI floor.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from buildtest_support import BACKEND, cmdline, datasets, descendants, make_corpus, proc_stat
from pipeline.build import build_ravdess
from pipeline.executors import ray_executor
from pipeline.stages.config import BuildConfig

# one clip in train (actor 01) and one in val (actor 21)
CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read /proc (Linux)")
def test_ray_local_instance_builds_the_same_splits_and_leaves_no_process(tmp_path, media, monkeypatch):
    try:
        import ray
    except ImportError:
        pytest.fail("ray is not installed: the tests need the 'cluster' extra (make test installs it)")
    assert not ray.is_initialized()
    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS})
    cfg = BuildConfig(backend=BACKEND)
    ref = build_ravdess(root, tmp_path / "local", cfg)
    assert ref.exit_code == 0 and ref.n_ok == 2 and ref.executor.startswith("in-process"), ref.failures

    # the processes Ray started, seen just before the executor shuts it down
    # (children this process had before, such as multiprocessing's resource tracker, are not Ray's)
    before = descendants(os.getpid())
    seen: dict[int, str] = {}
    names: dict[int, str] = {}
    close = ray_executor.RayExecutor.close

    def close_and_record(self) -> None:
        seen.update({pid: start for pid, start in descendants(os.getpid()).items() if before.get(pid) != start})
        names.update({pid: cmdline(pid) for pid in seen})
        close(self)

    monkeypatch.setattr(ray_executor.RayExecutor, "close", close_and_record)
    s = build_ravdess(root, tmp_path / "ray", cfg, workers=2, executor="ray")
    assert s.exit_code == 0 and s.n_ok == 2 and not s.failures, s.failures
    assert s.executor == "local Ray instance (2 CPUs, 0 GPUs)"
    assert not ray.is_initialized()

    # the splits are the same, array for array
    assert {k: v.clips for k, v in s.splits.items()} == {k: v.clips for k, v in ref.splits.items()} == {"train": 1, "val": 1}
    for split in s.splits:
        a, b = datasets(tmp_path / "local" / f"{split}.h5"), datasets(tmp_path / "ray" / f"{split}.h5")
        assert sorted(a) == sorted(b) and a, split
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{split}:{name}")

    # Ray really ran (its GCS server and raylet were children of this process) and all of it is gone
    assert any("gcs_server" in c for c in names.values()) and any("raylet" in c for c in names.values()), names
    deadline = time.monotonic() + 30
    alive = dict(seen)
    while alive and time.monotonic() < deadline:
        alive = {pid: start for pid, start in alive.items() if (st := proc_stat(pid)) is not None and st[1] == start}
        time.sleep(0.2)
    assert not alive, {pid: names[pid][:120] for pid in alive}
