"""The ranking experiment's stages after training (bench/rank.py): stage 5, ``emoface evaluate`` per seed
(:func:`evaluate_all`) and the upper-face bound (:func:`eve_bound`, ``bench.bench_eve_bound``); stage 6,
``emoface diagnose`` of every EmoFace-type run (:func:`diagnose_all`). Each is skipped while its report is
newer than the runs' checkpoints and the split files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.rank_jobs import _cli, _run_stage, _write_json
from bench.rank_methods import DIAGNOSED

if TYPE_CHECKING:  # annotations only: bench.rank imports this module
    from bench.rank import RankPlan

__all__ = ["DIAGNOSED", "evaluate_all", "eve_bound", "diagnose_all"]


def _has_oracles(report: Path) -> bool:
    """Whether an evaluation report holds the ``--oracles`` rows (one written before they existed is redone)."""
    try:
        names = {m.get("name") for m in json.loads(report.read_text()).get("methods", [])}
    except (OSError, ValueError):
        return False
    from emoface.eval.oracles import ClipMean

    return ClipMean().name in names


def evaluate_all(plan: RankPlan, data: Path) -> dict[int, Path]:
    """Stage 5: one evaluation per seed (skipped when its metrics.json is newer than every run's checkpoints and the
    split files: a retrained run or rebuilt data is evaluated again)."""
    jobs, reports = [], {}
    for seed in plan.seeds:
        runs = [plan.run_dir(m, seed) for m in plan.methods]
        out = plan.out / "eval" / f"s{seed}"
        reports[seed] = out / "metrics.json"
        newest = max((*(_newest_checkpoint(r) for r in runs), _data_mtime(data)), default=math.inf)
        if reports[seed].is_file() and reports[seed].stat().st_mtime >= newest and _has_oracles(reports[seed]):
            print(f"{reports[seed]}: already evaluated", flush=True)
            continue
        argv = _cli("emoface", "evaluate", "--run", runs[0], "--data", data, "--split", "test", "--out", out,
                    "--conditions", plan.conditions, "--threads", 1, "--device", plan.device, "--oracles")
        if len(runs) > 1:
            argv += ["--baselines", ",".join(map(str, runs[1:]))]
        if plan.truth:
            argv += ["--truth", str(plan.out / "corpus")]
        jobs.append((argv, out.with_suffix(".log")))
    _run_stage(jobs, plan.width, "evaluation")
    return reports


def eve_bound(plan: RankPlan, data: Path) -> dict:
    """Stage 5b: what still faces that know the emotion score on the upper face (``bench.bench_eve_bound``;
    kept in ``OUT/bound.json`` while it is newer than the test split)."""
    from bench.bench_eve_bound import run as bound_run

    path = plan.out / "bound.json"
    if path.is_file() and path.stat().st_mtime >= max((data / f"{s}.h5").stat().st_mtime for s in ("train", "test")):
        return json.loads(path.read_text())
    try:
        res = bound_run(data)
    except ValueError as exc:  # a clip too short for the prosodic features, a missing split
        raise RuntimeError(f"the upper-face bound (bench.bench_eve_bound): {exc}") from exc
    _write_json(path, res)
    return res


def _newest_checkpoint(run: Path) -> float:
    return max((p.stat().st_mtime for p in (run / "checkpoints").glob("*.pt")), default=math.inf)


def _data_mtime(data: Path) -> float:
    """When the newest split file was written (the evaluation reads all three: test, and train for the emotion probe)."""
    return max(((data / f"{s}.h5").stat().st_mtime for s in ("train", "val", "test") if (data / f"{s}.h5").is_file()),
               default=0.0)


def diagnose_all(plan: RankPlan, data: Path) -> dict[str, dict[int, Path]]:
    """Stage 6: ``emoface diagnose`` of every EmoFace-type run (skipped when its report is newer than its checkpoints
    and the split files);
    ``{method: {seed: OUT/diagnose/RUN/diagnose.json}}``."""
    jobs, reports = [], {}
    for method in (m for m in plan.methods if m in DIAGNOSED and plan.diagnose_clips > 0):
        for seed in plan.seeds:
            run = plan.run_dir(method, seed)
            out = plan.out / "diagnose" / run.name
            report = reports.setdefault(method, {})[seed] = out / "diagnose.json"
            if report.is_file() and report.stat().st_mtime >= max(_newest_checkpoint(run), _data_mtime(data)):
                print(f"{report}: already diagnosed", flush=True)
                continue
            jobs.append((_cli("emoface", "diagnose", "--run", run, "--data", data, "--split", "test", "--out", out,
                              "--max-clips", plan.diagnose_clips, "--threads", 1, "--device", plan.device), out.with_suffix(".log")))
    _run_stage(jobs, plan.width, "diagnosis")
    return reports
