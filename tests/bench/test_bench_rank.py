"""The ranking experiment's table and planning (bench/rank.py) on fabricated per-seed reports.

The experiment itself (corpus, build, 8 trainings) takes minutes even at its smallest size, so
its plumbing was checked by hand (the command is in bench/rank.py's docstring); here the
functions that turn per-seed ``metrics.json`` into the table, and the epoch planning, are
checked with numbers worked out by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.rank import RankPlan, choose_epochs, diagnose_all
from bench.report_rank import aggregate, aggregate_diagnoses, diagnosis_values, rank_section, render_diagnoses, render_table


def _method(name: str, lve: float, eve: float, acc: float | None, truth: float | None = None) -> dict:
    overall = {"lve": {"mean": lve}, "eve": {"mean": eve}, "fdd": {"mean": 0.5}}
    if truth is not None:
        overall.update(lve_truth={"mean": truth}, eve_truth={"mean": truth / 2})
    m = {"name": name, "description": f"{name.rpartition('-s')[0] or name} run", "overall": overall}
    if acc is not None:
        m["emotion_accuracy"] = {"accuracy": {"mean": acc}}
    return m


def _seed(seed: int, lve: float, eve: float, acc: float, ceiling: float) -> dict:
    return {"methods": [_method(f"emoface-s{seed}", lve, eve, acc, truth=lve + 1),
                        _method(f"single_branch-s{seed}", lve + 1.0, eve + 0.5, acc / 2, truth=lve + 2),
                        _method("template only", 5.0, 1.0, 0.125, truth=6.0)],
            "emotion_accuracy": {"ceiling": {"accuracy": {"mean": ceiling}}}}


def test_aggregate_mean_and_std_over_seeds():
    agg = aggregate({0: _seed(0, 1.0, 0.6, 0.8, 0.9), 1: _seed(1, 2.0, 0.8, 0.6, 0.9)})
    assert list(agg["methods"]) == ["emoface", "single_branch", "template only"]
    emo = agg["methods"]["emoface"]
    assert emo["n_seeds"] == 2 and emo["description"] == "emoface run"
    assert emo["lve"] == {"mean": 1.5, "std": 0.5, "seeds": [1.0, 2.0]}
    assert emo["eve"]["mean"] == pytest.approx(0.7) and emo["eve"]["std"] == pytest.approx(0.1)
    assert emo["emotion_acc"]["mean"] == pytest.approx(0.7) and emo["emotion_acc"]["std"] == pytest.approx(0.1)
    assert emo["lve_truth"]["mean"] == pytest.approx(2.5)
    sb = agg["methods"]["single_branch"]
    assert sb["emotion_acc"]["mean"] == pytest.approx(0.35) and sb["lve"]["mean"] == pytest.approx(2.5)
    floor = agg["methods"]["template only"]
    assert floor["n_seeds"] == 2 and floor["lve"]["std"] == 0.0 and floor["emotion_acc"]["mean"] == 0.125
    assert agg["ceiling"] == {"mean": pytest.approx(0.9), "std": pytest.approx(0.0)}
    lines = render_table(agg)
    assert lines[0] == ("| method | LVE ↓ | EVE ↓ | EVE / floor ↓ | FDD | LVE vs truth ↓ | EVE vs truth ↓ | emotion acc. ↑ | seeds | "
                        "description |")
    assert lines[2] == ("| emoface | 1.500 ± 0.500 | 0.700 ± 0.100 | 0.70 ± 0.10 | 0.50 ± 0.00 | 2.500 ± 0.500 | 1.250 ± 0.250 | "
                        "0.700 ± 0.100 | 2 | emoface run |")
    assert lines[-1].startswith("| test meshes (emotion ceiling) | – | – | – | – | – | – | 0.900 | – |")


def test_columns_a_report_lacks_are_left_out():
    """Reports without --truth and without an emotion probe: only LVE, EVE, FDD."""
    s = {"methods": [_method("emoface-s0", 1.0, 0.5, None), _method("template only", 5.0, 1.0, None)]}
    agg = aggregate({0: s})
    assert agg["ceiling"] is None
    lines = render_table(agg)
    assert lines[0] == "| method | LVE ↓ | EVE ↓ | EVE / floor ↓ | FDD | seeds | description |"
    assert lines[2] == "| emoface | 1.000 ± 0.000 | 0.500 ± 0.000 | 0.50 ± 0.00 | 0.50 ± 0.00 | 1 | emoface run |"


def test_choose_epochs_fits_the_budget():
    """2 methods x 2 seeds, two runs at a time on a CPU: (100 x 0.5 + 10 x 1) + (100 x 0.1 + 10 x 1) = 80 s per epoch
    of both methods, x 2 seeds / 2 = 80 s per epoch; evaluation 5 clips x (2 x 2 + 2) x 1 s x 2 / 2 = 30 s."""
    plan = RankPlan(Path("x"), seeds=(0, 1), methods=("emoface", "single_branch"), budget_min=10.0, conditions=2)
    m = {"step_s": {"emoface": 0.5, "single_branch": 0.1}, "predict_s": 1.0, "steps_per_epoch": 100}
    c = choose_epochs(m, plan, spent_s=170.0, val_clips=10, test_clips=5)
    assert c["epoch_s"] == pytest.approx(80.0) and c["eval_s"] == pytest.approx(30.0)
    assert c["left_s"] == pytest.approx(600 - 170 - 30) and c["epochs"] == 5  # 400 // 80
    gpu = choose_epochs(m, RankPlan(Path("x"), seeds=(0, 1), methods=("emoface", "single_branch"), budget_min=10.0,
                                    device="cuda"), 170.0, 10, 5)
    assert gpu["width"] == 1 and gpu["epochs"] == 2  # (600 - 170 - 60) // 160
    assert choose_epochs(m, plan, spent_s=10_000.0, val_clips=10, test_clips=5)["epochs"] == 1  # never below one


def test_plan_split_and_section():
    plan = RankPlan(Path("o"), train_actors=12, val_actors=2, test_actors=2)
    assert plan.split() == {"train": list(range(1, 13)), "val": [13, 14], "test": [15, 16]}
    assert plan.run_dir("add", 1) == Path("o/runs/add-s1")
    assert rank_section({}) == []
    agg = aggregate({0: _seed(0, 1.0, 0.6, 0.8, 0.9)})
    r = {"meta": {"command": "python -m bench.rank", "wall_s": 600.0, "date": "2026-01-01", "load_start": [1.0], "load_end": [2.0]},
         "plan": {"methods": ["emoface", "single_branch"], "seeds": [0], "train_actors": 12, "val_actors": 2, "test_actors": 2,
                  "conditions": 2, "device": "cpu"},
         "epochs": 4, "clips": {"train": 720, "val": 120, "test": 120}, "truth": True, **agg}
    text = "\n".join(rank_section({"rank": r}))
    assert "## Ranking experiment (issue 16)" in text and "10 min on 2026-01-01" in text
    assert "12 training actors (720 clips)" in text and "| emoface | 1.000 ± 0.000 |" in text
    assert "emoface diagnose" not in text  # no diagnosis in the result: no table
    r["diagnosis"] = aggregate_diagnoses({"emoface": {0: _diagnosis(0.2, 0.05, 0.4)}})
    text = "\n".join(rank_section({"rank": r}))
    assert "`emoface diagnose` of each EmoFace-type run" in text and "| emoface | 0.200 ± 0.000 |" in text


def _diagnosis(head: float, swap_eye: float, share: float, with_truth: bool = True) -> dict:
    regions = ("lips", "eye_region", "forehead")
    return {"split": "test",
            "emotion": {"head": {"train": {"accuracy": 0.9}, "test": {"accuracy": head}},
                        "probe_emotion": {"accuracy": 0.5}, "probe_content": {"accuracy": 0.25}},
            "drive": {"drive": {"emotion_swap": {"lips": 1.0, "eye_region": swap_eye, "forehead": 0.1},
                                "history_zero": {"lips": 0.02, "eye_region": 0.0, "forehead": 0.0}},
                      "emotion_share": {g: share for g in regions},
                      "emotion_swap_truth": {g: 0.3 for g in regions} if with_truth else None},
            "curves": {"train": {"classification": {"ratio": 1.0}}}}


def test_diagnoses_mean_and_std_over_seeds():
    """Two seeds of emoface: head 0.2 and 0.4 -> 0.3 +- 0.1; a run without the truth swap leaves that column out."""
    diag = aggregate_diagnoses({"emoface": {0: _diagnosis(0.2, 0.05, 0.4), 1: _diagnosis(0.4, 0.15, 0.6)},
                                "add": {0: _diagnosis(0.125, 0.0, 0.5, with_truth=False)}})
    emo = diag["emoface"]
    assert emo["n_seeds"] == 2 and emo["head"]["mean"] == pytest.approx(0.3) and emo["head"]["std"] == pytest.approx(0.1)
    assert emo["swap_eye"]["mean"] == pytest.approx(0.1) and emo["share_forehead"]["mean"] == pytest.approx(0.5)
    assert emo["truth_eye"]["mean"] == pytest.approx(0.3) and "truth_eye" not in diag["add"]
    assert diagnosis_values(_diagnosis(0.2, 0.05, 0.4))["probe_c"] == 0.25
    lines = render_diagnoses(diag)
    header = [ln for ln in lines if ln.startswith("| method")][0]
    assert "emotion head acc. (test)" in header and "truth: eye region mm" in header and header.count("|") == 15
    assert emo["history_lips"]["mean"] == pytest.approx(0.02)
    row = [ln for ln in lines if ln.startswith("| emoface |")][0]
    assert row.startswith("| emoface | 0.300 ± 0.100 | 0.500 ± 0.000 | 0.250 ± 0.000 | 1.000 ± 0.000 | 1.00 ± 0.00 | 0.10 ± 0.05 |")
    assert [ln for ln in lines if ln.startswith("| add |")][0].count("–") == 1
    assert render_diagnoses({}) == []


def test_diagnose_all_resumes(tmp_path, monkeypatch):
    """Only EmoFace-type runs are diagnosed; a report newer than the run's checkpoints is kept, an older one redone."""
    import os

    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface", "single_branch", "add"))
    for method in plan.methods:
        (plan.run_dir(method, 0) / "checkpoints").mkdir(parents=True)
        (plan.run_dir(method, 0) / "checkpoints" / "best.pt").write_bytes(b"x")
    done = tmp_path / "diagnose" / "add-s0" / "diagnose.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    stale = plan.run_dir("emoface", 0) / "checkpoints" / "best.pt"
    os.utime(done, (stale.stat().st_mtime + 10,) * 2)
    calls = []
    monkeypatch.setattr("bench.rank_jobs._run_parallel", lambda jobs, width: calls.extend(jobs) or [0] * len(jobs))
    reports = diagnose_all(plan, tmp_path / "data")
    assert set(reports) == {"emoface", "add"} and reports["add"][0] == done
    assert len(calls) == 1 and "diagnose" in calls[0][0] and str(plan.run_dir("emoface", 0)) in calls[0][0]
    assert calls[0][0][calls[0][0].index("--max-clips") + 1] == "40"
    calls.clear()
    os.utime(done, (stale.stat().st_mtime - 10,) * 2)  # the run was trained again after its diagnosis
    diagnose_all(plan, tmp_path / "data")
    assert len(calls) == 2
    assert diagnose_all(RankPlan(tmp_path, seeds=(0,), diagnose_clips=0), tmp_path) == {}


def test_every_method_trains_with_the_common_overrides(tmp_path):
    from bench.rank import COMMON, METHODS, _train_argv

    plan = RankPlan(out=tmp_path)
    for method in METHODS:
        argv = _train_argv(plan, tmp_path / "data", method, 0, tmp_path / "run")
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        assert all(c in sets for c in COMMON) and all(m in sets for m in METHODS[method])
    assert "loss.classification_weight=1.0" in COMMON and "model.emotion_label.enabled=false" in COMMON


def test_the_warm_up_scales_with_the_runs_length(tmp_path, monkeypatch):
    """The preset's theta (5 of 30 epochs) would keep a 4-epoch run teacher-forced throughout, making the
    self-growing runs identical to the teacher-forcing ablation; every trained run gets the scaled theta."""
    from bench.rank import scaled_theta, train_all
    from emoface.train.schedule import gt_probability

    assert scaled_theta(30) == 5 and scaled_theta(60) == 10 and scaled_theta(4) == 1
    for epochs in range(2, 40):  # every run of 2 epochs or more leaves teacher forcing
        assert min(gt_probability(e, epochs, scaled_theta(epochs)) for e in range(epochs)) < 1.0, epochs
    assert min(gt_probability(e, 6, 5) for e in range(6)) == 1.0  # the preset's theta: 6 epochs stay teacher-forced
    assert min(gt_probability(e, 4, 5) for e in range(4)) == 1.0  # the preset's theta would never leave teacher forcing
    calls = []
    monkeypatch.setattr("bench.rank_jobs._run_parallel", lambda jobs, width: calls.extend(jobs) or [0] * len(jobs))
    train_all(RankPlan(tmp_path, seeds=(0,), methods=("emoface", "teacher_forcing")), tmp_path / "data", 4)
    assert len(calls) == 2 and all("schedule.theta=1" in argv for argv, _ in calls)


def test_eve_over_the_floor_per_seed():
    per_seed = {s: {"methods": [{"name": f"emoface-s{s}", "overall": {"eve": {"mean": e}}},
                                {"name": "template only", "overall": {"eve": {"mean": f}}}]}
                for s, e, f in ((0, 1.0, 2.0), (1, 3.0, 4.0))}
    agg = aggregate(per_seed)["methods"]
    assert agg["emoface"]["eve_floor"]["seeds"] == [0.5, 0.75] and agg["emoface"]["eve_floor"]["mean"] == 0.625
    assert agg["template only"]["eve_floor"]["mean"] == 1.0


def test_the_bound_renders_under_the_table():
    from bench.report_rank import bound_section

    b = {"test_clips": 2, "train_clips": 6, "rows": [
        {"method": "template only", "eve": 0.3, "eve_floor": 1.0, "lve": 3.0, "emotion_accuracy": None},
        {"method": "emotion mean (oracle)", "eve": 0.15, "eve_floor": 0.5, "lve": 2.0, "emotion_accuracy": 1.0}]}
    lines = bound_section(b)
    assert "2 test clips" in lines[0] and lines[-1] == "| emotion mean (oracle) | 0.150 | 0.50 | 2.000 | 1.000 |"
    assert lines[-2] == "| template only | 0.300 | 1.00 | 3.000 | – |"


def test_rows_follow_the_plan_then_the_references():
    per_seed = {0: {"methods": [{"name": n, "overall": {"lve": {"mean": 1.0}, "eve": {"mean": 1.0}}}
                                for n in ("fitted data", "add-s0", "template only", "emoface-s0", "clip mean (oracle)")]}}
    agg = {**aggregate(per_seed), "plan": {"methods": ["emoface", "add"]}}
    rows = [line.split(" | ")[0][2:] for line in render_table(agg)[2:]]
    assert rows == ["emoface", "add", "template only", "clip mean (oracle)", "fitted data"]


def test_the_dilation_methods_are_opt_in():
    from pathlib import Path

    from bench.rank import DEFAULT_METHODS, METHODS, RankPlan
    from bench.rank_stages import DIAGNOSED

    assert RankPlan(Path("x")).methods == DEFAULT_METHODS == ("emoface", "single_branch", "add", "teacher_forcing")
    for d in (2, 3):
        name = f"emoface_dilation{d}"
        assert METHODS[name] == (f"model.mesh_attention.dilation={d}",) and name in DIAGNOSED
