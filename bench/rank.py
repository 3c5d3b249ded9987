"""The ranking experiment (issue 16 item 3): EmoFace against its ablations, over seeds, one command.

    make rank                                    # the full experiment (about two hours on 2 CPU cores)
    python -m bench.rank --out rank_out          # the same
    python -m bench.rank --out /tmp/rank_tiny --train-actors 3 --clips-per-actor 6 --val-actors 1 \\
        --test-actors 1 --epochs 1 --seeds 0 1 --methods emoface single_branch    # a plumbing check (minutes)

Stages, each skipping what is done (a rerun after an interruption continues, and redoes what changed;
stages 5 and 6 are in bench.rank_stages, the command runner in bench.rank_jobs):

1. ``build-dataset synth``: a generated corpus of ``train + val + test`` actors (resumes itself);
2. ``build-dataset ravdess`` with the split written to ``OUT/split.yaml``, run every time: it resumes itself
   and redoes only the stages whose inputs, config or code changed (a no-op rerun plans from its sidecars:
   0.6 s on a 40-clip build), so a resumed experiment never trains on splits built by older code;
3. plan: the epochs, from measured step times (``--max-steps`` runs of every method, the
   difference of two lengths, so start-up does not count) and a measured prediction time,
   to fit ``--budget-min``; written once to ``OUT/plan.json`` (``--epochs`` fixes them);
4. ``emoface train`` of every method x seed (``--resume``; a run with all its epochs is skipped),
   two at a time on one thread each on a CPU, one at a time on a GPU. What each run is launched with
   (its ``--set`` list, epochs, the sha256 of the preset's values, the hashes of the train/val splits)
   is recorded first in ``RUN/rank_run.json`` (bench.rank_runs); a run trained with anything else than
   the experiment would use now (other overrides or epochs, a preset with other values - an edited
   comment is no change -, rebuilt data; for a run
   from before the record: its ``config.yaml``, or split files newer than the run) stops the command
   with an error naming the run and what differs (exit code 2), and ``--retrain-stale`` moves it
   aside to ``RUN.stale-<time>`` (nothing is deleted) and trains it again;
5. ``emoface evaluate`` per seed (redone when a run's checkpoints or a split file are newer): all
   methods of the seed, the template floor, emotion accuracy, ``--truth OUT/corpus`` (LVE/EVE against the generated truth, "fitted data") and
   ``--oracles`` (still faces that bound the upper face: the first frame held, the true emotion's
   mean, the clip's own mean frame; emoface.eval.oracles); then ``bench.bench_eve_bound`` (the same
   still faces driven by a recogniser of the voice: what the upper face can gain from audio);
6. ``emoface diagnose`` of every EmoFace-type run (emoface, add, teacher_forcing; skipped when its
   ``diagnose.json`` is newer than the run's checkpoints and the split files): the emotion head and
   feature probes on the test actors, each branch's drive per region, the training curves (``OUT/diagnose/RUN``);
7. the tables: mean +- std over seeds (:func:`aggregate`, :func:`aggregate_diagnoses`), written to ``OUT/rank.md``,
   ``bench/results/full/rank.json`` and the "Ranking experiment" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.rank_jobs import REPO, _cli, _run, _run_stage, _write_json
from bench.rank_methods import COMMON, DEFAULT_METHODS, METHODS
from bench.rank_stages import diagnose_all, eve_bound, evaluate_all
from bench.report_rank import aggregate, aggregate_diagnoses, rank_lines

CONFIG = REPO / "configs" / "emoface-small.yaml"


@dataclass(frozen=True)
class RankPlan:
    """The sizes of one ranking experiment (every number a stage uses)."""

    out: Path
    train_actors: int = 12
    val_actors: int = 2
    test_actors: int = 2
    clips_per_actor: int = 60
    seeds: tuple[int, ...] = (0, 1)
    methods: tuple[str, ...] = DEFAULT_METHODS
    epochs: int | None = None  # None: from measured step times and the budget
    budget_min: float = 120.0  # the whole command, data included
    conditions: int = 2  # training-speaker conditions per test clip in the evaluation
    workers: int = 2
    device: str = "cpu"
    truth: bool = True
    diagnose_clips: int = 40  # test clips of the region-drive measure per diagnosed run (0: no diagnosis)

    @property
    def actors(self) -> int:
        return self.train_actors + self.val_actors + self.test_actors

    @property
    def width(self) -> int:
        """Runs at a time: two on one thread each on a CPU, one on a GPU."""
        return 1 if self.device.startswith("cuda") else 2

    def split(self) -> dict[str, list[int]]:
        n, v = self.train_actors, self.val_actors
        return {"train": list(range(1, n + 1)), "val": list(range(n + 1, n + v + 1)),
                "test": list(range(n + v + 1, self.actors + 1))}

    def run_dir(self, method: str, seed: int) -> Path:
        return self.out / "runs" / f"{method}-s{seed}"



def build_data(plan: RankPlan) -> Path:
    """Stages 1-2: the corpus and its 3D dataset; returns the dataset folder.

    Both builds always run: they resume themselves and redo only the stages whose inputs, config or code
    changed (a no-op rerun of the dataset build plans from its sidecars in about a second on a small corpus),
    so a resumed experiment never trains on splits built by older code. Exit code 1 (some clips failed,
    listed in the QA report) is accepted when every split was written or is up to date."""
    corpus, data = plan.out / "corpus", plan.out / "data"
    if _run(_cli("pipeline", "synth", "--out", corpus, "--actors", plan.actors, "--clips-per-actor", plan.clips_per_actor,
                 "--workers", plan.workers)) != 0:
        raise RuntimeError(f"{corpus}: build-dataset synth failed")
    split = plan.out / "split.yaml"
    split.write_text("".join(f"{k}: {v}\n" for k, v in {"name": "rank", **plan.split()}.items()))
    rc = _run(_cli("pipeline", "ravdess", "--root", corpus, "--out", data, "--workers", plan.workers, "--split", split))
    if rc not in (0, 1):
        raise RuntimeError(f"{data}: build-dataset ravdess failed (exit code {rc})")
    try:
        splits = json.loads((data / "build.json").read_text()).get("splits", {})
    except (OSError, ValueError):
        splits = {}
    bad = [s for s in ("train", "val", "test") if not (data / f"{s}.h5").is_file()
           or splits.get(s, {}).get("status") not in ("written", "up to date")]
    if bad:
        raise RuntimeError(f"{data}: build-dataset ravdess failed (exit code {rc}): split(s) {', '.join(bad)} not written "
                           f"(see {data / 'build.json'})")
    return data


def _train_sets(method: str, seed: int, out: Path, *more: str) -> list[str]:
    """The ``--set`` overrides of one run (``more``: the experiment's, e.g. the scaled ``schedule.theta``)."""
    return [*COMMON, *METHODS[method], f"train.seed={seed}", "train.threads=1", f"name={out.name}", *more]


def _train_argv(plan: RankPlan, data: Path, method: str, seed: int, out: Path, *extra: object,
                more: Sequence[str] = ()) -> list[str]:
    sets = [a for s in _train_sets(method, seed, out, *more) for a in ("--set", s)]
    return _cli("emoface", "train", "--config", CONFIG, "--data", data, "--out", out, "--device", plan.device, *sets, *map(str, extra))


def steps_per_epoch(data: Path, seed: int = 0) -> int:
    """Training steps of one epoch at batch size 1: the cross-reconstruction pairs (or the clips when there are none)."""
    from emoface.train.pairs import PairDataset

    pairs = PairDataset(data / "train.h5", None, seed, False, cross=True)
    return len(pairs) or len(pairs.clips)


def measure(plan: RankPlan, data: Path, short: int = 2, long: int = 22) -> dict:
    """Seconds per training step of every method (runs of ``short`` and ``long`` steps) and per evaluated prediction.

    A difference that the machine's load makes non-positive falls back to the long run's time per step
    (an over-estimate: it includes the start-up)."""
    work = plan.out / "measure"
    step_s = {}
    for method in plan.methods:
        t = {}
        for n in (short, long):
            out = work / f"{method}-{n}"
            t0 = time.perf_counter()
            # at epoch 0 (p_gt = 1) a self-growing step skips its second pass, which the epochs after the warm-up
            # run: time the two-pass step (an over-estimate for the warm-up epochs)
            two_pass = () if "schedule.kind=teacher_forcing" in METHODS[method] else ("--set", "schedule.skip_stage1_when_all_gt=false")
            if _run(_train_argv(plan, data, method, 0, out, "--max-steps", n, "--overwrite", *two_pass), work / "measure.log") != 0:
                raise RuntimeError(f"measuring {method}: emoface train failed (log: {work / 'measure.log'})")
            t[n] = time.perf_counter() - t0
        step_s[method] = (t[long] - t[short]) / (long - short) if t[long] > t[short] else t[long] / long
    ev = {}
    for n in (1, 5):
        t0 = time.perf_counter()
        argv = _cli("emoface", "evaluate", "--run", work / f"{plan.methods[0]}-{long}", "--data", data, "--conditions", 1,
                    "--max-clips", n, "--no-emotion", "--out", work / f"eval-{n}", "--threads", 1, "--device", plan.device)
        if _run(argv, work / "measure.log") != 0:
            raise RuntimeError(f"measuring the evaluation failed (log: {work / 'measure.log'})")
        ev[n] = time.perf_counter() - t0
    predict_s = (ev[5] - ev[1]) / 4 if ev[5] > ev[1] else ev[5] / 5
    return {"step_s": step_s, "predict_s": predict_s, "steps_per_epoch": steps_per_epoch(data)}


def choose_epochs(m: Mapping, plan: RankPlan, spent_s: float, val_clips: int, test_clips: int) -> dict:
    """Epochs that fit what is left of the budget: training (``width`` runs at a time) plus the evaluation."""
    width = plan.width
    per_epoch = {k: m["steps_per_epoch"] * s + val_clips * m["predict_s"] for k, s in m["step_s"].items()}
    epoch_s = sum(per_epoch[k] for k in plan.methods) * len(plan.seeds) / width
    eval_s = test_clips * (plan.conditions * len(plan.methods) + 2) * m["predict_s"] * len(plan.seeds) / width
    left = plan.budget_min * 60 - spent_s - eval_s
    epochs = max(1, int(left // epoch_s)) if epoch_s > 0 else 1
    return {"epochs": epochs, "epoch_s": epoch_s, "eval_s": eval_s, "per_epoch_s": per_epoch, "left_s": left, "width": width}


def scaled_theta(epochs: int) -> int:
    """The preset's self-growing warm-up scaled to a run of ``epochs``: the same share of teacher-forced epochs.

    The small preset's theta (5 of 30 epochs) never leaves teacher forcing in a run of 6 epochs or fewer (the
    first epoch after the warm-up still has p_gt = cos 0 = 1), which made the self-growing runs identical to the
    teacher-forcing ablation in the first full experiment. At most ``epochs - 2``, so that a run of 2 epochs or
    more reaches p_gt < 1; a 1-epoch run (a plumbing check) cannot tell the two schedules apart."""
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import load_yaml

    cfg = load_yaml(ExperimentConfig, CONFIG, {})
    return min(int(round(cfg.schedule.theta * epochs / max(1, cfg.train.epochs))), max(0, epochs - 2))


def _epochs_done(run: Path) -> int:
    try:
        return len(json.loads((run / "metrics.json").read_text()).get("epochs", []))
    except (OSError, ValueError):
        return 0


class StaleRuns(RuntimeError):
    """Runs trained with other settings or data than the experiment would use now (one line per run)."""


def train_all(plan: RankPlan, data: Path, epochs: int, retrain_stale: bool = False) -> None:
    """Stage 4: every method x seed, resumed, skipped when it has all its epochs.

    Each run's launch is recorded first (``RUN/rank_run.json``, :mod:`bench.rank_runs`); a run whose record (or,
    from before the record, whose ``config.yaml`` or data) differs from what would be launched now is stale:
    :class:`StaleRuns` names it, unless ``retrain_stale``, which moves it aside to ``RUN.stale-<time>`` and trains
    it again. A stale folder with nothing trained yet is moved aside without asking."""
    from bench.rank_runs import (code_changed, has_trained, launch_record, legacy_items, move_aside, read_record, stale_items,
                                 write_record)

    more = (f"schedule.theta={scaled_theta(epochs)}",)
    todo = []
    for seed in plan.seeds:
        for method in plan.methods:
            run = plan.run_dir(method, seed)
            sets = _train_sets(method, seed, run, *more)
            want = launch_record(CONFIG, sets, epochs, data)
            have = read_record(run)
            if have is not None:
                finished = _epochs_done(run) >= epochs
                items = stale_items(have, want, finished)
                if not items and finished and code_changed(have, want):
                    print(f"{run}: trained with other training code ({have.code}, now {want.code}); kept as finished",
                          flush=True)
                    want = replace(want, code=have.code)  # its record keeps the code it was trained with
            elif (run / "config.yaml").is_file() or has_trained(run):
                items = legacy_items(run, CONFIG, sets, epochs, data)
            else:
                items = []
            todo.append((method, seed, run, want, have, items))
    stale = [f"{run}: trained with {'; '.join(items)}; pass --retrain-stale to move it aside (to {run.name}.stale-<time>) "
             "and train it again" for _, _, run, _, _, items in todo if items and has_trained(run)]
    if stale and not retrain_stale:
        raise StaleRuns("\n".join(stale))
    jobs = []
    for method, seed, run, want, have, items in todo:
        if items:
            print(f"{run}: stale ({'; '.join(items)}): moved aside to {move_aside(run)}", flush=True)
        if have != want or items:
            write_record(run, want)  # before training starts (a run from before the record is adopted here)
        if _epochs_done(run) >= epochs:
            print(f"{run}: {epochs} epochs already trained", flush=True)
            continue
        jobs.append((_train_argv(plan, data, method, seed, run, "--epochs", epochs, "--resume", more=more),
                     run.with_suffix(".log")))
    _run_stage(jobs, plan.width, "training")


def _count_clips(path: Path) -> int:
    from emoface.data.schema import SplitReader

    with SplitReader(path) as r:
        return len(r.clip_ids)


def run_experiment(plan: RankPlan, results: Path | None = None, md: Path | None = None, retrain_stale: bool = False) -> dict:
    """Every stage; returns the result dict (also ``OUT/rank.json`` and ``OUT/rank.md``; ``results``/``md``: the
    bench results JSON and BENCHMARKS.md to update; ``retrain_stale``: see :func:`train_all`)."""
    from bench.machine import section

    t0 = time.perf_counter()
    cmd = " ".join(["python -m bench.rank", *sys.argv[1:]]) if sys.argv[0].endswith("rank.py") else "python -m bench.rank"
    with section("rank", cmd) as meta:
        data = build_data(plan)
        plan_file = plan.out / "plan.json"
        saved = json.loads(plan_file.read_text()) if plan_file.is_file() else None
        if plan.epochs is not None:
            chosen = {"epochs": plan.epochs, "fixed": True}
        elif saved is not None:
            chosen = saved  # a resumed experiment keeps its epochs
        else:
            from emoface.train.config import ExperimentConfig
            from emoface.utils.config import load_yaml

            val_max = load_yaml(ExperimentConfig, CONFIG, {}).train.val_max_clips
            val_clips = min(val_max or 10**9, _count_clips(data / "val.h5"))
            measured = measure(plan, data)
            chosen = {**choose_epochs(measured, plan, time.perf_counter() - t0, val_clips, _count_clips(data / "test.h5")),
                      "measured": measured}
        if saved is None or plan.epochs is not None:
            _write_json(plan_file, chosen)
        epochs = int(chosen["epochs"])
        print(f"epochs: {epochs}" + ("" if chosen.get("fixed") else f" (plan: {plan_file})"), flush=True)
        train_all(plan, data, epochs, retrain_stale)
        reports = evaluate_all(plan, data)
        bound = eve_bound(plan, data)
        per_seed = {seed: json.loads(p.read_text()) for seed, p in reports.items()}
        agg = aggregate(per_seed)
        diagnoses = {m: {seed: json.loads(p.read_text()) for seed, p in by_seed.items()}
                     for m, by_seed in diagnose_all(plan, data).items()}
    result = {"meta": meta, "plan": {**asdict(plan), "out": str(plan.out)}, "epochs": epochs, "schedule": chosen,
              "clips": {s: _count_clips(data / f"{s}.h5") for s in ("train", "val", "test")},
              "truth": plan.truth, **agg, "bound": bound, "diagnosis": aggregate_diagnoses(diagnoses),
              "train_overrides": {"every method": [*COMMON, f"schedule.theta={scaled_theta(epochs)}"],
                                  **{k: list(METHODS[k]) for k in plan.methods}}}
    _write_json(plan.out / "rank.json", result)
    (plan.out / "rank.md").write_text("\n".join(rank_lines(result)) + "\n")
    if results is not None:
        _write_json(results / "rank.json", result)
        if md is not None:
            from bench.report import write_report

            write_report(results, md, partial=True)  # only the ranking section changes
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = RankPlan(Path("rank_out"))
    ap.add_argument("--out", type=Path, default=d.out, help="working folder (corpus, data, runs, evaluations)")
    ap.add_argument("--train-actors", type=int, default=d.train_actors)
    ap.add_argument("--val-actors", type=int, default=d.val_actors)
    ap.add_argument("--test-actors", type=int, default=d.test_actors)
    ap.add_argument("--clips-per-actor", type=int, default=d.clips_per_actor)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    ap.add_argument("--methods", nargs="+", default=list(d.methods), choices=list(METHODS))
    ap.add_argument("--epochs", type=int, default=None, help="fixed epochs (default: from measured step times and --budget-min)")
    ap.add_argument("--budget-min", type=float, default=d.budget_min, help="minutes for the whole command, data included")
    ap.add_argument("--conditions", type=int, default=d.conditions, help="speaker conditions per test clip")
    ap.add_argument("--workers", type=int, default=d.workers)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when torch sees one)")
    ap.add_argument("--no-truth", action="store_true", help="leave out the truth-referenced columns")
    ap.add_argument("--diagnose-clips", type=int, default=d.diagnose_clips,
                    help="test clips of each EmoFace-type run's region-drive diagnosis (0: no `emoface diagnose`)")
    ap.add_argument("--retrain-stale", action="store_true",
                    help="move runs trained with other settings or data than now aside (RUN.stale-<time>) and train them again")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "full", help="bench results folder")
    ap.add_argument("--md", type=Path, default=REPO / "BENCHMARKS.md", help="report to re-render ('-': none)")
    a = ap.parse_args(argv)
    if min(a.train_actors, a.val_actors, a.test_actors, a.clips_per_actor) < 1 or a.train_actors + a.val_actors + a.test_actors > 24:
        ap.error("--train/val/test-actors and --clips-per-actor must be >= 1, with at most 24 actors in all")
    device = a.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    plan = RankPlan(a.out.resolve(), a.train_actors, a.val_actors, a.test_actors, a.clips_per_actor, tuple(a.seeds),
                    tuple(dict.fromkeys(a.methods)), a.epochs, a.budget_min, a.conditions, a.workers, device, not a.no_truth,
                    a.diagnose_clips)
    try:
        r = run_experiment(plan, a.results, None if str(a.md) == "-" else a.md, a.retrain_stale)
    except StaleRuns as exc:  # a usage error: nothing was trained
        print("\n".join(f"error: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(rank_lines(r)))
    print(f"wrote {plan.out / 'rank.md'}, {a.results / 'rank.json'}" + ("" if str(a.md) == "-" else f" and {a.md}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
