"""``bench.bench_pair_step`` times each variant and checks what it claims: the variants that share work
give the step's loss bit for bit (the opt-in to float rounding), and every variant gets a ratio."""

import pytest

from bench.bench_pair_step import run


pytestmark = pytest.mark.usefixtures("one_thread")


def test_small_preset_rows_and_exactness():
    rep = run("small", 468, frames=4, rounds=1, frozen_rows=True, single=True)
    names = [r["variant"] for r in rep["rows"]]
    assert names == ["before", "default", "share_anchor_cnn", "frozen before", "frozen default", "single branch"]
    assert rep["same_loss_bitwise"] == {"default vs before": True, "frozen default vs frozen before": True}
    assert rep["share_anchor_cnn_loss_diff"] == 0.0 and 0 <= rep["share_anchor_cnn_max_rel_grad_diff"] < 1e-5  # 0 is possible: summation order
    assert all(len(v) == 1 and v[0] > 0 for v in rep["seconds_per_round"].values())
    assert rep["rows"][0]["ratio_to_before"] == 1.0 and "ratio_to_single_branch" in rep["rows"][1]
