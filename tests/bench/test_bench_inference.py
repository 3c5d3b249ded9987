"""bench.bench_inference --concurrent-encoders: the two encoders side by side in two threads give the
same features and meshes as one after the other, and leave torch's thread setting as it was."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from bench.bench_inference import concurrent_encoders  # noqa: E402


def test_side_by_side_encoders_equal_one_after_the_other_and_restore_the_threads(two_threads):
    rows = concurrent_encoders([1.0], n_vertices=468, repeats=2, preset="small")
    assert [r["variant"] for r in rows] == ["one after the other", "side by side", "transformers side by side"]
    base = rows[0]
    assert base["encoders_speedup"] == 1.0 and base["max_feature_diff"] == 0.0
    for r in rows:
        assert r["audio_seconds"] == 1.0 and r["threads"] == 2
        assert r["encoders_s"] > 0
        assert r["max_feature_diff"] < 1e-5 and r["max_vertex_diff_mm"] < 1e-5 * 1e3
        assert not r["features_require_grad"]  # the workers run without gradients, as generate does
    # a worker thread's torch.set_num_threads also sets what threads started later begin with
    seen: list[int] = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert torch.get_num_threads() == 2 and seen == [2]
