"""bench.bench_train: the live-heap sampler and the fields of one variant's row."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.bench_train import REPO, LiveHeap


def test_live_heap_sees_a_block_held_during_the_steps():
    heap = LiveHeap(interval=0.001)
    if not heap.available:
        pytest.skip("the C library has no mallinfo2 (not glibc >= 2.33)")
    before = heap.now()
    for _ in range(2):  # the same sampler twice
        with heap:
            block = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, touched
            deadline = time.monotonic() + 5.0
            while heap.peak - before < 60 << 20 and time.monotonic() < deadline:  # the thread saw it
                time.sleep(0.005)
            seen = heap.peak - before
            del block
        assert seen >= 60 << 20  # seen by the sampling thread, before the block went away
        assert heap.now() - before < 32 << 20  # handed back after the block went away


def test_one_row_holds_the_libraries_and_the_live_heap():
    """``--one`` in a fresh process, as ``bench_train`` runs each variant (a test process has grown already)."""
    p = subprocess.run([sys.executable, "-m", "bench.bench_train", "--one", "small", "468", "emoface", "--steps", "1",
                        "--frames", "12", "--live-heap"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    row = json.loads(p.stdout.strip().splitlines()[-1])
    assert 0 < row["rss_libraries_mib"] < row["rss_before_mib"] <= row["peak_rss_mib"]
    if not os.environ.get("LD_PRELOAD"):
        assert row["allocator"] == "libc"
    if "peak_live_heap_mib" not in row:
        pytest.skip("the C library has no mallinfo2")
    assert 0 < row["live_heap_between_steps_mib"] < row["peak_live_heap_mib"] < row["peak_rss_mib"]
    assert 0 < row["live_heap_libraries_mib"] < row["rss_libraries_mib"]
