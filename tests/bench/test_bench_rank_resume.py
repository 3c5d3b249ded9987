"""Resuming the ranking experiment (bench/rank.py, bench/rank_runs.py) without stale data or stale runs.

Nothing trains or builds here: ``bench.rank_jobs._run_parallel`` is replaced by a recorder (as in
test_bench_rank.py), the run folders and split files are fabricated, and the build's ``package``
sidecars are written with the pipeline's own :class:`~pipeline.stages.store.Store`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bench import rank
from bench.rank import CONFIG, RankPlan, StaleRuns, build_data, evaluate_all, scaled_theta, train_all
from bench.rank_runs import RECORD, launch_record, read_record, write_record
from pipeline.stages.store import Store

EPOCHS = 6


#: an evaluation report with the --oracles rows (one without them is redone)
WITH_ORACLES = '{"methods": [{"name": "emoface-s0"}, {"name": "template only"}, {"name": "clip mean (oracle)"}]}'


def _data(tmp_path: Path, train_input: str = "in-1") -> Path:
    """A dataset folder: three split files and the package sidecars a build leaves."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    store = Store(data)
    for split in ("train", "val", "test"):
        (data / f"{split}.h5").write_bytes(b"h5")
        store.record_ok("package", split, (train_input if split == "train" else "in-v", "cfg", "code"),
                        f"../../{split}.h5", f"out-{split}-{train_input}", 0.1)
    return data


def _age(paths: list[Path], seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    for p in paths:
        os.utime(p, (t, t))


def _sets(method: str, seed: int, run: Path, epochs: int = EPOCHS) -> list[str]:
    return rank._train_sets(method, seed, run, f"schedule.theta={scaled_theta(epochs)}")


def _trained_run(run: Path, epochs: int, ago: float = 0.0) -> None:
    """A run folder with ``epochs`` finished epochs and its checkpoints."""
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"ckpt")
    (run / "checkpoints" / "best.pt").write_bytes(b"ckpt")
    (run / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": i} for i in range(epochs)]}))
    if ago:
        _age([run / "metrics.json", *(run / "checkpoints").glob("*.pt")], ago)


def _legacy_config(run: Path, sets: list[str], epochs: int) -> None:
    """The resolved config.yaml ``emoface train`` leaves in a run (cross reconstruction resolved, as the trainer does)."""
    from emoface.train.config import ExperimentConfig
    from emoface.train.workflow import parse_overrides
    from emoface.utils.config import dump_yaml, load_yaml

    cfg = load_yaml(ExperimentConfig, CONFIG, {**parse_overrides(sets), "train.epochs": epochs})
    cfg.pairs.cross_reconstruction = True
    dump_yaml(cfg, run / "config.yaml")


def _preset_theta() -> int:
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import load_yaml

    return load_yaml(ExperimentConfig, CONFIG, {}).schedule.theta


@pytest.fixture()
def calls(monkeypatch):
    jobs: list[tuple[list[str], Path | None]] = []
    monkeypatch.setattr("bench.rank_jobs._run_parallel", lambda js, width: jobs.extend(js) or [0] * len(js))
    return jobs


# --- stale data: the build always runs --------------------------------------------------------------------------


def _build_json(data: Path, status: dict[str, str]) -> None:
    (data / "build.json").write_text(json.dumps({"splits": {s: {"status": v, "clips": 2} for s, v in status.items()}}))


def test_build_runs_even_when_the_splits_exist(tmp_path, calls):
    """A built dataset (marker of the old code included) is still handed to the build, which redoes what changed."""
    data = _data(tmp_path)
    (data / ".rank_built").write_text("exit code 0\n")
    _build_json(data, {"train": "up to date", "val": "up to date", "test": "up to date"})
    assert build_data(RankPlan(tmp_path, train_actors=2, val_actors=1, test_actors=1, clips_per_actor=2)) == data
    assert [c[0][c[0].index("-m") + 1:c[0].index("-m") + 3] for c in calls] == [["pipeline", "synth"], ["pipeline", "ravdess"]]


def test_build_accepts_failed_clips_but_not_a_failed_split(tmp_path, monkeypatch):
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, train_actors=2, val_actors=1, test_actors=1, clips_per_actor=2)
    codes = iter([0, 1])  # synth, then ravdess with some clips failed
    monkeypatch.setattr("bench.rank_jobs._run_parallel", lambda js, width: [next(codes)])
    _build_json(data, {"train": "written", "val": "up to date", "test": "written"})
    assert build_data(plan) == data
    codes = iter([0, 1])
    _build_json(data, {"train": "failed", "val": "up to date", "test": "written"})  # train.h5 is the old one
    with pytest.raises(RuntimeError, match=r"exit code 1\): split\(s\) train not written"):
        build_data(plan)
    codes = iter([0, 2])  # a setup error (e.g. another build holds the folder's lock): never go on with old splits
    _build_json(data, {"train": "up to date", "val": "up to date", "test": "up to date"})
    with pytest.raises(RuntimeError, match="exit code 2"):
        build_data(plan)


# --- stale runs ---------------------------------------------------------------------------------------------------


def test_finished_run_with_other_overrides_stops_the_experiment(tmp_path, calls):
    """A run with all its epochs, launched with another theta: an error naming the run and the item, nothing trains."""
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface", "single_branch"))
    old = plan.run_dir("emoface", 0)
    _trained_run(old, EPOCHS)
    write_record(old, launch_record(CONFIG, rank._train_sets("emoface", 0, old, "schedule.theta=99"), EPOCHS, data))
    ok = plan.run_dir("single_branch", 0)
    _trained_run(ok, EPOCHS)
    write_record(ok, launch_record(CONFIG, _sets("single_branch", 0, ok), EPOCHS, data))
    with pytest.raises(StaleRuns) as exc:
        train_all(plan, data, EPOCHS)
    lines = str(exc.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{old}: trained with schedule.theta=99 (now {scaled_theta(EPOCHS)})")
    assert "--retrain-stale" in lines[0]
    assert calls == [] and (old / "metrics.json").is_file()


def test_rebuilt_data_and_other_epochs_make_runs_stale(tmp_path, calls):
    """A partial run recorded on splits that were rebuilt since, and one recorded with other epochs."""
    data = _data(tmp_path, train_input="in-1")
    plan = RankPlan(tmp_path, seeds=(0, 1), methods=("emoface",))
    for seed in (0, 1):
        run = plan.run_dir("emoface", seed)
        _trained_run(run, 2)
        epochs = EPOCHS if seed == 0 else EPOCHS + 4
        write_record(run, launch_record(CONFIG, _sets("emoface", seed, run, epochs), epochs, data))
    data = _data(tmp_path, train_input="in-2")  # the fitting changed: package re-ran for train
    with pytest.raises(StaleRuns) as exc:
        train_all(plan, data, EPOCHS)
    s0, s1 = str(exc.value).splitlines()
    assert s0.startswith(f"{plan.run_dir('emoface', 0)}: trained with train.h5 (rebuilt since)")
    assert f"epochs {EPOCHS + 4} (now {EPOCHS})" in s1 and "train.h5 (rebuilt since)" in s1
    assert calls == []


def test_retrain_stale_moves_the_run_aside_and_evaluates_again(tmp_path, calls, monkeypatch):
    """The experiment now runs longer (so another theta): the finished run is kept aside, trained again, evaluated again."""
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface",))
    run = plan.run_dir("emoface", 0)
    _trained_run(run, EPOCHS, ago=300)
    write_record(run, launch_record(CONFIG, _sets("emoface", 0, run), EPOCHS, data))
    run.with_suffix(".log").write_text("old log\n")
    report = tmp_path / "eval" / "s0" / "metrics.json"
    report.parent.mkdir(parents=True)
    report.write_text(WITH_ORACLES)
    _age([report], 200)  # evaluated after the old run finished
    _age([data / f"{s}.h5" for s in ("train", "val", "test")], 400)
    assert evaluate_all(plan, data) and calls == []  # up to date before the change
    want_epochs = EPOCHS + 6
    with pytest.raises(StaleRuns):
        train_all(plan, data, want_epochs)

    def fake_train(js, width):  # the retraining writes fresh checkpoints
        calls.extend(js)
        assert read_record(run) == launch_record(CONFIG, _sets("emoface", 0, run, want_epochs), want_epochs, data)
        _trained_run(run, want_epochs)
        return [0] * len(js)

    monkeypatch.setattr("bench.rank_jobs._run_parallel", fake_train)
    train_all(plan, data, want_epochs, retrain_stale=True)
    aside = [p for p in run.parent.iterdir() if p.name.startswith("emoface-s0.stale-")]
    assert sorted(p.suffix == ".log" for p in aside) == [False, True]
    kept = next(p for p in aside if p.suffix != ".log")
    assert len(json.loads((kept / "metrics.json").read_text())["epochs"]) == EPOCHS and (kept / RECORD).is_file()
    assert len(calls) == 1 and "--resume" in calls[0][0] and f"schedule.theta={scaled_theta(want_epochs)}" in calls[0][0]
    calls.clear()
    monkeypatch.setattr("bench.rank_jobs._run_parallel", lambda js, width: calls.extend(js) or [0] * len(js))
    evaluate_all(plan, data)
    assert len(calls) == 1 and "evaluate" in calls[0][0]


def test_partial_run_resumes_and_a_new_run_is_recorded_before_training(tmp_path, calls):
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface", "add"))
    part = plan.run_dir("emoface", 0)
    _trained_run(part, 2)
    write_record(part, launch_record(CONFIG, _sets("emoface", 0, part), EPOCHS, data))
    train_all(plan, data, EPOCHS)
    assert [c[0][c[0].index("--out") + 1] for c in calls] == [str(part), str(plan.run_dir("add", 0))]
    new = plan.run_dir("add", 0)
    assert read_record(new) == launch_record(CONFIG, _sets("add", 0, new), EPOCHS, data)
    assert list(part.parent.glob("*.stale-*")) == []


# --- runs from before the record ----------------------------------------------------------------------------------


def test_run_from_before_the_record_is_adopted_when_its_config_agrees(tmp_path, calls):
    data = _data(tmp_path)
    _age([data / f"{s}.h5" for s in ("train", "val", "test")], 600)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("single_branch",))
    run = plan.run_dir("single_branch", 0)
    _trained_run(run, EPOCHS)
    _legacy_config(run, _sets("single_branch", 0, run), EPOCHS)
    train_all(plan, data, EPOCHS)
    assert calls == [] and read_record(run) == launch_record(CONFIG, _sets("single_branch", 0, run), EPOCHS, data)


def test_run_from_before_the_record_is_stale_when_its_config_or_data_disagrees(tmp_path, calls):
    data = _data(tmp_path)
    _age([data / f"{s}.h5" for s in ("train", "val", "test")], 600)
    plan = RankPlan(tmp_path, seeds=(0, 1), methods=("emoface",))
    r0, r1 = plan.run_dir("emoface", 0), plan.run_dir("emoface", 1)
    _trained_run(r0, EPOCHS)  # launched before theta was scaled to the epochs
    _legacy_config(r0, [s for s in _sets("emoface", 0, r0) if not s.startswith("schedule.theta")], EPOCHS)
    _trained_run(r1, EPOCHS, ago=900)  # its config agrees, but the splits were rebuilt after it started
    _legacy_config(r1, _sets("emoface", 1, r1), EPOCHS)
    _age([r1 / "config.yaml"], 900)
    with pytest.raises(StaleRuns) as exc:
        train_all(plan, data, EPOCHS)
    l0, l1 = str(exc.value).splitlines()
    assert l0.startswith(f"{r0}: trained with schedule.theta={_preset_theta()} (now {scaled_theta(EPOCHS)})")
    assert l1 == (f"{r1}: trained with train.h5 (rebuilt since the run started); val.h5 (rebuilt since the run started); "
                  f"pass --retrain-stale to move it aside (to {r1.name}.stale-<time>) and train it again")
    assert calls == [] and not (r0 / RECORD).exists() and not (r1 / RECORD).exists()


def test_main_exits_2_with_one_line_per_stale_run(tmp_path, monkeypatch, capsys):
    def stale(plan, results, md, retrain_stale):
        assert retrain_stale is False
        raise StaleRuns("a: trained with x\nb: trained with y")

    monkeypatch.setattr("bench.rank.run_experiment", stale)
    assert rank.main(["--out", str(tmp_path), "--device", "cpu", "--md", "-", "--results", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == "error: a: trained with x\nerror: b: trained with y\n"


def _report(tmp_path: Path, text: str) -> Path:
    """Seed 0's evaluation report ``OUT/eval/s0/metrics.json`` holding ``text``."""
    report = tmp_path / "eval" / "s0" / "metrics.json"
    report.parent.mkdir(parents=True)
    report.write_text(text)
    return report


def test_evaluation_is_redone_when_a_split_is_newer(tmp_path, calls):
    """The splits were rebuilt after the evaluation (the runs were not retrained): evaluate again."""
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface",))
    _trained_run(plan.run_dir("emoface", 0), EPOCHS, ago=300)
    report = _report(tmp_path, WITH_ORACLES)
    _age([report], 200)
    evaluate_all(plan, data)
    assert len(calls) == 1 and "evaluate" in calls[0][0]


def test_a_report_from_before_the_oracles_is_redone(tmp_path, calls):
    """A report newer than the runs and the data but without the --oracles rows is evaluated again; one with them is kept."""
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface",))
    _trained_run(plan.run_dir("emoface", 0), EPOCHS, ago=300)
    report = _report(tmp_path, '{"methods": [{"name": "emoface-s0"}, {"name": "template only"}]}')
    evaluate_all(plan, data)
    assert len(calls) == 1 and "--oracles" in calls[0][0]
    calls.clear()
    report.write_text(WITH_ORACLES)
    evaluate_all(plan, data)
    assert calls == []


def test_stale_folder_with_nothing_trained_is_moved_aside_without_asking(tmp_path, calls):
    """A run killed before its first checkpoint left only config.yaml, with another theta (``emoface train --resume``
    would refuse it): nothing is lost, so it is moved aside and the run starts again without --retrain-stale."""
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface",))
    run = plan.run_dir("emoface", 0)
    run.mkdir(parents=True)
    _legacy_config(run, rank._train_sets("emoface", 0, run, "schedule.theta=99"), EPOCHS)
    train_all(plan, data, EPOCHS)
    aside = list(run.parent.glob("emoface-s0.stale-*"))
    assert len(aside) == 1 and (aside[0] / "config.yaml").is_file() and not (run / "config.yaml").exists()
    assert len(calls) == 1 and read_record(run) == launch_record(CONFIG, _sets("emoface", 0, run), EPOCHS, data)


# --- the training code ------------------------------------------------------------------------------------------


def _record_with_code(run: Path, data: Path, code: str) -> None:
    from dataclasses import replace

    write_record(run, replace(launch_record(CONFIG, _sets("emoface", 0, run), EPOCHS, data), code=code))


def test_an_unfinished_run_of_other_training_code_is_stale(tmp_path, calls):
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface",))
    run = plan.run_dir("emoface", 0)
    _trained_run(run, EPOCHS - 2)
    _record_with_code(run, data, "0123456789abcdef")
    with pytest.raises(StaleRuns, match="other training code"):
        train_all(plan, data, EPOCHS)
    assert calls == []


def test_a_finished_run_of_other_training_code_is_kept_with_its_code(tmp_path, calls, capsys):
    data = _data(tmp_path)
    plan = RankPlan(tmp_path, seeds=(0,), methods=("emoface",))
    run = plan.run_dir("emoface", 0)
    _trained_run(run, EPOCHS)
    _record_with_code(run, data, "0123456789abcdef")
    train_all(plan, data, EPOCHS)
    assert calls == [] and "trained with other training code" in capsys.readouterr().out
    assert read_record(run).code == "0123456789abcdef"  # the record still says what it was trained with


def test_a_record_without_the_code_is_not_judged_on_it(tmp_path, calls):
    from bench.rank_runs import code_fingerprint, stale_items

    data = _data(tmp_path)
    now = launch_record(CONFIG, _sets("emoface", 0, tmp_path), EPOCHS, data)
    assert now.code == code_fingerprint() and len(now.code) == 16
    from dataclasses import replace

    assert stale_items(replace(now, code=""), now) == []
    assert stale_items(replace(now, code="x"), now) != [] and stale_items(replace(now, code="x"), now, finished=True) == []


def test_a_comment_in_the_preset_is_no_change_but_a_value_is(tmp_path):
    """The preset's values are recorded, not its bytes: an edited comment or layout keeps a run; an edited value,
    or (for a record from before the values were kept) any edit of the file, makes it stale."""
    from dataclasses import replace

    from bench.rank_runs import stale_items

    data = _data(tmp_path)
    preset = tmp_path / "preset.yaml"
    preset.write_text(CONFIG.read_text())
    sets = _sets("emoface", 0, tmp_path)
    before = launch_record(preset, sets, EPOCHS, data)
    preset.write_text("# a note on the preset\n" + CONFIG.read_text().replace("theta:", "theta:  "))
    commented = launch_record(preset, sets, EPOCHS, data)
    assert commented.config_sha256 != before.config_sha256
    assert stale_items(before, commented) == []
    assert stale_items(replace(before, config_values=""), commented) == ["the preset's content"]
    assert "theta: 5\n" in CONFIG.read_text()
    preset.write_text(CONFIG.read_text().replace("theta: 5\n", "theta: 6\n"))
    assert stale_items(before, launch_record(preset, sets, EPOCHS, data)) == ["the preset's values"]
    # the same values in another key order: no change
    import yaml

    values = yaml.safe_load(CONFIG.read_text())
    preset.write_text(yaml.safe_dump(dict(reversed(list(values.items()))), sort_keys=False))
    assert stale_items(before, launch_record(preset, sets, EPOCHS, data)) == []
    # the record keeps the values' hash through the file; one written before the values were kept has none
    run = tmp_path / "run"
    run.mkdir()
    write_record(run, before)
    assert read_record(run) == before
    old = json.loads((run / RECORD).read_text())
    del old["config_values"]
    (run / RECORD).write_text(json.dumps(old))
    assert read_record(run).config_values == "" and stale_items(read_record(run), commented) == ["the preset's content"]
    # a preset that does not parse has no values' hash: its bytes decide
    from bench.rank_runs import config_values_sha256

    preset.write_text("model: [unclosed\n")
    assert config_values_sha256(preset) == ""
