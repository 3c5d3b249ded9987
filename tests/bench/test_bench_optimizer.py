"""bench.bench_optimizer: both kinds of Adam step time and agree on the update."""

from __future__ import annotations

import json

from bench.bench_optimizer import main, markdown, measure


def test_measures_both_kinds_and_their_agreement():
    row = measure("small", 468, "emoface", rounds=2, threads=1)
    assert set(row["seconds"]) == {"default", "fused"} and all(len(v) == 2 for v in row["all_seconds"].values())
    assert all(t > 0 for t in row["seconds"].values()) and row["params"] > 0
    assert row["max_rel_difference"] <= 1e-5  # another kernel, the same update to float rounding
    assert "| small | 468 | emoface |" in markdown([row])


def test_cli_writes_its_rows(tmp_path):
    out = tmp_path / "opt.json"
    assert main(["--presets", "small", "--vertices", "468", "--variants", "single_branch", "--rounds", "1",
                 "--threads", "1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["variant"] for r in rows] == ["single_branch"] and rows[0]["speedup_fused"] > 0
