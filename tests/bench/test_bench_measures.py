"""bench.bench_measures / bench_fit.measures: measures per seed and photo, fitted / oracle / truth, in BENCHMARKS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from bench.bench_fit import measures  # noqa: E402
from bench.machine import section  # noqa: E402
from bench.report import render  # noqa: E402


def _row(clip_id: str, lips_total: float, photo: str | None) -> dict:
    lips = dict(total=lips_total, static=lips_total / 2, dynamic=lips_total / 2, true_total=3.0, true_static=2.0,
                true_dynamic=2.5)
    gt = {"frames_compared": 100, "offset_error_mm": {"lips": lips}}
    if photo:
        gt["photo"] = photo
    return {"clip_id": clip_id, "n_frames": 100, "ground_truth": gt}


def _corpus(photos: bool):
    """4 actors x happy/sad; truth separable; fitted features lose "sad"; the oracle keeps everything."""
    rows, orows, feats, ofeats = [], [], [], []
    for a in (1, 2, 3, 4):
        photo = ("astronaut" if a % 2 else "hopper") if photos else None
        for emo, vec in ((3, [1.0, 0.0]), (4, [0.0, 1.0])):
            cid = f"01-01-0{emo}-01-01-01-{a:02d}"
            true = np.asarray(vec) + 0.01 * a
            rows.append(_row(cid, 2.0, photo))
            orows.append(_row(cid, 1.0, photo))
            feats.append({"fitted": np.array([0.5, 0.5]), "truth": true})
            ofeats.append({"fitted": true + 0.001, "truth": true})
    return rows, orows, feats, ofeats


def test_measures_fitted_oracle_truth_same_folds():
    m = measures(*_corpus(photos=False))
    assert m["offsets"]["fitted"]["regions"]["lips"]["total"] == pytest.approx(2.0)
    assert m["offsets"]["oracle"]["regions"]["lips"]["total"] == pytest.approx(1.0)
    assert m["offsets"]["fitted"]["regions"]["lips"]["true_total"] == pytest.approx(3.0)
    assert "by_photo" not in m["offsets"]["fitted"]
    r = m["recognisability"]
    assert r["actors"] == 4 and r["clips"] == 8 and "by_photo" not in r
    assert r["truth"]["accuracy"] == 1.0 and r["oracle"]["accuracy"] == 1.0
    assert r["fitted"]["accuracy"] == 0.5 and r["fitted"]["per_class"] == {"happy": 1.0, "sad": 0.0}


def test_measures_grouped_by_photo_when_recorded():
    m = measures(*_corpus(photos=True))
    assert set(m["offsets"]["oracle"]["by_photo"]) == {"astronaut", "hopper"}
    byp = m["recognisability"]["by_photo"]
    assert set(byp) == {"astronaut", "hopper"}
    assert byp["hopper"]["actors"] == 2 and byp["hopper"]["oracle"]["n_clips"] == 4
    assert byp["hopper"]["truth"]["accuracy"] == 1.0


def test_measures_section_in_benchmarks_md(tmp_path):
    res = {"size": {"seeds": [0, 1], "actors": 4, "clips_per_actor": 2}, "seeds": {}}
    for seed in ("0", "1"):
        res["seeds"][seed] = {"summary": {"mouth_r_mean": 0.98}, "oracle_summary": {"mouth_r_mean": 0.995},
                              "measures": measures(*_corpus(photos=True))}
    with section("measures", "python -m bench.run_all --only measures") as meta:
        pass
    (tmp_path / "measures.json").write_text(json.dumps({"meta": meta, "plan": {"mode": "full"}, **res}))
    md = render(tmp_path)
    assert "## Measures against the truth" in md
    lines = md.splitlines()
    lips = [ln for ln in lines if ln.startswith("| 1 | hopper | lips |")]
    assert lips == ["| 1 | hopper | lips | 2.00 / 1.00 / 3.00 | 1.00 / 0.50 / 2.00 | 1.00 / 0.50 / 2.50 |"]
    assert "fitted / oracle: seed 0 0.980 / 0.995; seed 1 0.980 / 0.995." in md
    assert "| 0 | all | face |" not in md  # no face region in these rows
    fitted = next(ln for ln in lines if ln.startswith("| 0 | all | fitted |"))
    assert fitted == "| 0 | all | fitted | 8 | 0.50 | 1.00 | 0.00 |"
    assert any(ln.startswith("| 1 | astronaut | truth | 4 | 1.00 |") for ln in lines)


def test_missing_measures_section_says_how_to_run_it(tmp_path):
    assert "`python -m bench.run_all --only measures`" in render(tmp_path)


def test_the_static_split_is_measured_with_the_regions_and_rendered(tmp_path):
    """With the model's regions, ``measures`` splits the static error (lips: an actor-constant 3 mm error in
    depth, nothing per clip) and the section renders the split beside the offsets."""
    regions = {"lips": [0, 1], "eye_region": [2], "forehead": [3]}
    rows, feats = [], []
    for a in (1, 2, 3):
        for emo in (3, 4):
            truth = np.zeros((4, 3))
            truth[:, 0] = 0.001 * emo + 0.0001 * a
            fitted = truth.copy()
            fitted[:2, 2] += 0.003
            rows.append(_row(f"01-01-0{emo}-01-01-01-{a:02d}", 2.0, None))
            feats.append({"fitted": fitted.reshape(-1), "truth": truth.reshape(-1)})
    oracle_feats = [{"fitted": f["truth"] + 0.0005 * (i % 2), "truth": f["truth"]} for i, f in enumerate(feats)]
    with_oracle = measures(rows, rows, feats, oracle_feats, regions)["static_split"]["oracle"]["lips"]
    # the oracle is off by 0.5 mm along each axis in every other clip (emotion 4): half of it common to the
    # actor's two clips, half per clip
    h = 0.25 * np.sqrt(3)
    assert {k: with_oracle[k] for k in ("static", "common", "per_clip")} == pytest.approx(
        {"static": h, "common": h, "per_clip": h}, abs=1e-9)
    m = measures(rows, [], feats, [], regions)
    sp = m["static_split"]["fitted"]
    assert {k: sp["lips"][k] for k in ("static", "common", "per_clip")} == pytest.approx(
        {"static": 3.0, "common": 3.0, "per_clip": 0.0}, abs=1e-9)
    assert sp["eye_region"]["static"] == pytest.approx(0.0, abs=1e-9)
    assert "oracle" not in m["static_split"] and "static_split" not in measures(rows, [], feats, [])
    res = {"size": {"seeds": [0], "actors": 3, "clips_per_actor": 2},
           "seeds": {"0": {"summary": {"mouth_r_mean": 0.98}, "oracle_summary": {"mouth_r_mean": 0.99}, "measures": m}}}
    with section("measures", "python -m bench.run_all --only measures") as meta:
        pass
    (tmp_path / "measures.json").write_text(json.dumps({"meta": meta, "plan": {"mode": "full"}, **res}))
    lines = render(tmp_path).splitlines()
    assert "| 0 | all | lips | 3.00 / - / 3.70 | 3.00 / - / 3.70 | 0.00 / - / 0.50 |" in lines
